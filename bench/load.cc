#include "load.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace synod::bench {

Load::Load(const BenchOptions& o)
    : requests_(static_cast<std::size_t>(o.clients) * o.outstanding),
      value_bytes_(o.value_bytes),
      commands_(o.commands),
      warmup_s_(o.warmup_s),
      duration_s_(o.duration_s) {
  for (std::size_t i = 0; i < requests_.size(); ++i)
    requests_[i].client = static_cast<std::uint32_t>(i / o.outstanding);
}

void Load::start(std::uint64_t now) {
  start_ = last_print_ = now;
  window_begin_ = now + static_cast<std::uint64_t>(warmup_s_ * 1e9);
  // With --commands the window ends when the last of them commits (end()).
  window_end_ =
      commands_ ? UINT64_MAX : window_begin_ + static_cast<std::uint64_t>(duration_s_ * 1e9);
  phase_ = Phase::warmup;
  advance(now);
}

Phase Load::advance(std::uint64_t now) {
  if (phase_ == Phase::warmup && now >= window_begin_) phase_ = Phase::measuring;
  if (phase_ == Phase::measuring && now >= window_end_) {
    phase_ = Phase::done;
    m_.seconds = static_cast<double>(window_end_ - window_begin_) / 1e9;
  }
  return phase_;
}

std::string Load::issue(std::size_t i, std::uint64_t now) {
  Request& r = requests_[i];
  r.issued_ns = now;
  r.in_flight = true;
  std::string command(value_bytes_, 'v');
  std::uint64_t seq = next_seq_++;
  std::memcpy(command.data(), &seq, std::min<std::size_t>(sizeof seq, command.size()));
  return command;
}

void Load::end(std::size_t i, std::uint64_t now, bool committed) {
  Request& r = requests_[i];
  r.in_flight = false;
  if (!committed) {
    ++m_.failed;
    return;
  }
  ++ended_total_;
  if (now < window_begin_ || now >= window_end_) return;
  ++m_.ops;
  m_.latency.record(now - r.issued_ns);
  // The window closes at this instant: requests ending later (even in the
  // same Ready) are not counted, so exactly `commands_` are.
  if (m_.ops == commands_) window_end_ = now;
}

double Load::window_fraction(std::uint64_t now) const {
  if (phase_ == Phase::warmup || now < window_begin_) return 0;
  if (phase_ == Phase::done) return 1;
  if (commands_) return static_cast<double>(m_.ops) / static_cast<double>(commands_);
  return std::min(1.0, static_cast<double>(now - window_begin_) /
                           static_cast<double>(window_end_ - window_begin_));
}

void Load::print_progress(std::uint64_t now, std::string_view extra) {
  double elapsed = static_cast<double>(now - start_) / 1e9;
  double rate = static_cast<double>(ended_total_ - last_print_ended_) * 1e9 /
                static_cast<double>(now - last_print_);
  std::string so_far;
  double measured = now > window_begin_
                        ? static_cast<double>(std::min(now, window_end_) - window_begin_) / 1e9
                        : 0.0;
  if (measured >= 0.5)
    so_far = fmt::format(", {:.0f} ops/s measured so far", static_cast<double>(m_.ops) / measured);
  else if (now < window_begin_)
    so_far = " (warmup)";
  if (commands_ && now >= window_begin_)
    so_far += fmt::format(", {:.1f} of {:.1f} M commands", static_cast<double>(m_.ops) / 1e6,
                          static_cast<double>(commands_) / 1e6);
  fmt::print(stderr, "[{:6.1f} s] {:>10.0f} ops/s in the last second{}{}\n", elapsed, rate, so_far,
             extra);
  last_print_ = now;
  last_print_ended_ = ended_total_;
}

}  // namespace synod::bench
