// Resident memory over the measured window, sampled at each tenth of it (by
// committed commands with --commands, else by time), so a report can show
// whether memory stays flat: the 10 % sample against the 100 % one. Eleven
// numbers however long the run; a sample is read only when a tenth is
// crossed, not per loop iteration.
#pragma once

#include <array>
#include <cstdint>

namespace synod::bench {

class RssTrack {
 public:
  static constexpr std::size_t kPoints = 11;  // 0 %, 10 %, ..., 100 %
  using Samples = std::array<std::uint64_t, kPoints>;

  // `fraction` of the window is done; `rss()` reads the resident bytes now.
  template <typename Read>
  void at(double fraction, Read rss) {
    if (next_ >= kPoints || fraction * 10 < static_cast<double>(next_)) return;
    std::uint64_t now = rss();
    while (next_ < kPoints && fraction * 10 >= static_cast<double>(next_)) samples_[next_++] = now;
  }

  const Samples& samples() const { return samples_; }

 private:
  std::size_t next_ = 0;
  Samples samples_{};
};

}  // namespace synod::bench
