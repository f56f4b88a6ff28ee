// The bad-frame log limit (transports/uv/log_throttle.h): a peer that sends
// garbage at will gets one log line a second, and the line says how many
// went unlogged.
#include "log_throttle.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "peer_frame.h"

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

namespace synod::detail {

TEST_CASE("a host takes a peer's frame only when it decodes and names that peer as sender") {
  Message hb;
  hb.type = MessageType::heartbeat;
  hb.group = GroupId{1};
  hb.from = NodeId{2};
  hb.to = NodeId{1};
  hb.ballot = Ballot{3, NodeId{2}};
  std::vector<std::uint8_t> frame;
  REQUIRE(wire::encode(hb, frame, wire::WireLimits{}) == Status::ok);
  std::uint64_t count = 0, log_ns = 0, unlogged = 0;
  std::vector<std::string> lines;
  auto log = [&](std::string_view line) { lines.emplace_back(line); };
  Message m;
  CHECK(
      decode_peer_frame(NodeId{2}, frame, wire::WireLimits{}, &m, {count, log_ns, unlogged}, log));
  CHECK(m == hb);
  CHECK(count == 0);
  // The same frame over node 3's link: a forgery, dropped, counted, logged.
  CHECK_FALSE(
      decode_peer_frame(NodeId{3}, frame, wire::WireLimits{}, &m, {count, log_ns, unlogged}, log));
  CHECK(count == 1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "dropped a bad frame from node 3: it claims to be node 2");
  // Garbage right after: counted, not logged within the second.
  std::vector<std::uint8_t> garbage(frame.size(), 0xAB);
  CHECK_FALSE(decode_peer_frame(NodeId{3}, garbage, wire::WireLimits{}, &m,
                                {count, log_ns, unlogged}, log));
  CHECK(count == 2);
  CHECK(lines.size() == 1);
  CHECK(unlogged == 1);
}

}  // namespace synod::detail
