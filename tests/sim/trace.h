// The simulator's event trace: a hash over every event (a replayed seed must
// give the same hash) and the last events, printed when a check fails.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace synod::sim {

class Trace {
 public:
  explicit Trace(std::size_t keep = 60) : keep_(keep) {}

  void add(std::string line) {
    for (unsigned char c : line) hash_ = (hash_ ^ c) * 0x100000001b3ULL;
    hash_ = (hash_ ^ '\n') * 0x100000001b3ULL;
    ++events_;
    if (keep_ == 0) return;
    last_.push_back(std::move(line));
    if (last_.size() > keep_) last_.pop_front();
  }
  std::uint64_t hash() const { return hash_; }
  std::uint64_t events() const { return events_; }
  const std::deque<std::string>& last() const { return last_; }

 private:
  std::size_t keep_;
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::uint64_t events_ = 0;
  std::deque<std::string> last_;
};

}  // namespace synod::sim
