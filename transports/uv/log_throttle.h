// At most one log line per second for an event a peer can cause at will (bad
// frames): the event is still counted every time; the line says how many
// went unlogged since the last one, so a flood cannot flood the log. The
// state is two integers the host keeps (its public header cannot include
// this private one).
#pragma once

#include <cstdint>

namespace synod::detail {

struct LogThrottleState {
  std::uint64_t last_ns = 0;  // 0: never logged
  std::uint64_t unlogged = 0;
};

// True when a line may be logged at now_ns; *unlogged is then the number of
// events suppressed since the last line.
inline bool throttle_log(LogThrottleState& s, std::uint64_t now_ns, std::uint64_t* unlogged) {
  constexpr std::uint64_t period_ns = 1'000'000'000;
  if (s.last_ns != 0 && now_ns - s.last_ns < period_ns) {
    ++s.unlogged;
    return false;
  }
  s.last_ns = now_ns == 0 ? 1 : now_ns;
  *unlogged = s.unlogged;
  s.unlogged = 0;
  return true;
}

}  // namespace synod::detail
