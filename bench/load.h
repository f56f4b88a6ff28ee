// Closed-loop load: `clients` clients, each keeping `outstanding` proposals
// in flight; a request is issued again as soon as it ends. Time runs in three
// phases: warmup, measured window, done. Throughput and latency count only
// requests that end inside the measured window.
//
// The driver (memory or TCP run) owns the replicas; it asks the Load for a
// command, proposes it, and reports back when the request ended.
#pragma once

#include <time.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.h"
#include "options.h"

namespace synod::bench {

inline std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

enum class Phase : std::uint8_t { warmup, measuring, done };

// What one run measured.
struct Measured {
  double seconds = 0;         // length of the measured window
  std::uint64_t ops = 0;      // committed commands that ended in the window
  std::uint64_t slots = 0;    // slots the leader applied in the window
  std::uint64_t failed = 0;   // outcomes other than committed, whole run
  std::uint64_t refused = 0;  // propose() refusals (not leader, overloaded)
  Histogram latency;          // ns, of the `ops` requests
};

class Load {
 public:
  struct Request {
    std::uint64_t issued_ns = 0;
    std::uint32_t client = 0;
    bool in_flight = false;
  };

  explicit Load(const BenchOptions& o);

  // Starts the clock: the warmup begins now.
  void start(std::uint64_t now);
  // Moves to the next phase when its time came; returns the phase now.
  Phase advance(std::uint64_t now);
  Phase phase() const { return phase_; }
  std::uint64_t window_end_ns() const { return window_end_; }

  std::size_t requests() const { return requests_.size(); }
  // The next command for request i: value_bytes bytes, a sequence number in
  // the first eight. Marks the request issued at `now`.
  std::string issue(std::size_t i, std::uint64_t now);
  // Request i ended at `now`. Whether it may be issued again is up to the
  // driver (not once the run is done).
  void end(std::size_t i, std::uint64_t now, bool committed);
  // Request i was refused by propose(); the driver retries it later.
  void refused(std::size_t i) {
    requests_[i].in_flight = false;
    ++m_.refused;
  }
  // The leader applied a slot.
  void slot_applied(std::uint64_t now) {
    if (now >= window_begin_ && now < window_end_) ++m_.slots;
  }

  // How much of the measured window is done, in [0, 1]: committed commands
  // out of --commands, or time out of --duration. 0 during the warmup.
  double window_fraction(std::uint64_t now) const;
  // Once a second: true when a progress line is due; print_progress() then
  // prints it to stderr, `extra` appended (the caller's resident memory).
  bool progress_due(std::uint64_t now) const { return now - last_print_ >= 1'000'000'000u; }
  void print_progress(std::uint64_t now, std::string_view extra);

  const Measured& measured() const { return m_; }

 private:
  std::vector<Request> requests_;
  std::uint64_t value_bytes_;
  std::uint64_t commands_;  // 0: the window lasts duration_s_
  std::uint64_t next_seq_ = 0;
  double warmup_s_, duration_s_;
  Phase phase_ = Phase::warmup;
  std::uint64_t start_ = 0, window_begin_ = 0, window_end_ = 0;
  std::uint64_t ended_total_ = 0;  // committed, whole run
  std::uint64_t last_print_ = 0, last_print_ended_ = 0;
  Measured m_;
};

}  // namespace synod::bench
