// Latency histogram with log-linear buckets (as HdrHistogram): 64 buckets
// per power of two, so a percentile is exact to within 1/64 (1.6 %) of its
// value, for any 64-bit value. Recording is an array increment: no
// allocation, cheap enough to record every proposal.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace synod::bench {

class Histogram {
 public:
  static constexpr unsigned sub_bits = 6;
  static constexpr std::uint64_t sub_count = 1u << sub_bits;

  void record(std::uint64_t ns, std::uint64_t times = 1) {
    counts_[index(ns)] += times;
    count_ += times;
    if (ns > max_) max_ = ns;
  }

  void merge(const Histogram& h) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += h.counts_[i];
    count_ += h.count_;
    if (h.max_ > max_) max_ = h.max_;
  }

  void clear() { *this = Histogram{}; }

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }

  // The value at quantile q in [0, 1]: the middle of the bucket holding it,
  // never above the maximum recorded. 0 when empty.
  std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_));
    if (rank >= count_) rank = count_ - 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) {
        std::uint64_t mid = lower(i) + (lower(i + 1) - lower(i)) / 2;
        return mid < max_ ? mid : max_;
      }
    }
    return max_;
  }

 private:
  // Values below sub_count map to themselves; above, the top sub_bits + 1
  // bits pick the bucket.
  static std::size_t index(std::uint64_t v) {
    if (v < sub_count) return static_cast<std::size_t>(v);
    unsigned shift = static_cast<unsigned>(std::bit_width(v)) - sub_bits - 1;
    return static_cast<std::size_t>((shift + 1) * sub_count + ((v >> shift) - sub_count));
  }
  // Smallest value of bucket i.
  static std::uint64_t lower(std::size_t i) {
    if (i < sub_count) return i;
    std::uint64_t shift = i / sub_count - 1;
    return (sub_count + i % sub_count) << shift;
  }

  std::array<std::uint64_t, (65 - sub_bits) * sub_count> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace synod::bench
