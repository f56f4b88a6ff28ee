// The simulator's event trace: a hash over every event (a replayed seed must
// give the same hash) and the last events, printed when a check fails.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace synod::sim {

class Trace {
 public:
  explicit Trace(std::size_t keep = 60) : keep_(keep) {}

  void add(std::string_view line) {
    // Eight bytes a step: a byte at a time costs as much as the rest.
    std::size_t i = 0;
    for (; i + 8 <= line.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, line.data() + i, 8);
      mix(w);
    }
    std::uint64_t tail = line.size();  // the length ends every line
    for (; i < line.size(); ++i) tail = (tail << 8) | static_cast<unsigned char>(line[i]);
    mix(tail);
    ++events_;
    if (keep_ == 0) return;
    // A ring of strings whose buffers are reused: no allocation per event.
    if (last_.size() < keep_) {
      last_.emplace_back(line);
      return;
    }
    last_[next_].assign(line);
    next_ = (next_ + 1) % keep_;
  }
  std::uint64_t hash() const { return hash_; }
  std::uint64_t events() const { return events_; }
  // The last events, oldest first.
  std::vector<std::string> last() const {
    std::vector<std::string> out(last_.begin() + static_cast<std::ptrdiff_t>(next_), last_.end());
    out.insert(out.end(), last_.begin(), last_.begin() + static_cast<std::ptrdiff_t>(next_));
    return out;
  }

 private:
  void mix(std::uint64_t w) {
    hash_ = (hash_ ^ w) * 0x100000001b3ULL;
    hash_ ^= hash_ >> 29;
  }

  std::size_t keep_;
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::uint64_t events_ = 0;
  std::vector<std::string> last_;
  std::size_t next_ = 0;  // the oldest, once full
};

}  // namespace synod::sim
