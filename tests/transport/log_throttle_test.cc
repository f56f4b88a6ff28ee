// The bad-frame log limit (transports/uv/log_throttle.h): a peer that sends
// garbage at will gets one log line a second, and the line says how many
// went unlogged.
#include <doctest/doctest.h>

#include "log_throttle.h"

namespace synod::detail {

TEST_CASE("bad-frame logging: one line a second, the rest counted in the next line") {
  LogThrottleState s;
  std::uint64_t unlogged = 99;
  const std::uint64_t second = 1'000'000'000;
  CHECK(throttle_log(s, 5 * second, &unlogged));  // the first event logs
  CHECK(unlogged == 0);
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(throttle_log(s, 5 * second + 1 + i, &unlogged));
  CHECK_FALSE(throttle_log(s, 6 * second - 1, &unlogged));
  CHECK(throttle_log(s, 6 * second, &unlogged));  // a second later: logs, with the count
  CHECK(unlogged == 1001);
  CHECK_FALSE(throttle_log(s, 6 * second + 10, &unlogged));
  CHECK(throttle_log(s, 9 * second, &unlogged));
  CHECK(unlogged == 1);
}

}  // namespace synod::detail
