// How a libuv host (UvHost, GroupHost) takes a frame from a peer: decode it,
// and check that it names the peer the transport knows as its sender
// (Replica::step trusts Message::from). A peer can send bad frames at will:
// each is counted, and the log gets at most one line a second
// (log_throttle.h).
#pragma once

#include <fmt/format.h>
#include <uv.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "log_throttle.h"
#include "synod/message.h"
#include "synod/wire.h"

namespace synod::detail {

// The counters a host keeps for it (in its public header, which cannot
// include this one).
struct BadFrameCounters {
  std::uint64_t& count;
  std::uint64_t& log_ns;
  std::uint64_t& unlogged;
};

// True with *m filled when the frame is a message from `from`; otherwise
// counts it and maybe logs why.
template <class Log>
bool decode_peer_frame(NodeId from, std::span<const std::uint8_t> frame,
                       const wire::WireLimits& limits, Message* m, BadFrameCounters bad,
                       Log&& log) {
  wire::DecodeResult r = wire::decode_one(frame, *m, limits);
  std::string why;
  if (r.status != Status::ok || r.consumed == 0)
    why = r.error;
  else if (m->from != from)
    why = fmt::format("it claims to be node {}", m->from.value);
  else
    return true;
  ++bad.count;
  LogThrottleState t{bad.log_ns, bad.unlogged};
  std::uint64_t unlogged = 0;
  bool now = throttle_log(t, uv_hrtime(), &unlogged);
  bad.log_ns = t.last_ns;
  bad.unlogged = t.unlogged;
  if (now)
    log(fmt::format("dropped a bad frame from node {}: {}{}", from.value, why,
                    unlogged ? fmt::format(" ({} more since the last line)", unlogged) : ""));
  return false;
}

// And the other way: encodes m (in wire::encode_view's per-thread buffer, no
// copy) and hands it to the transport, which copies it into its queue before
// send() returns (Transport::send). A message that cannot be encoded is
// logged, a loss tolerated. Returns the frame's size (0 when none was sent).
template <class Transport, class Log>
std::size_t encode_peer_frame(const Message& m, const wire::WireLimits& limits,
                              Transport& transport, Log&& log) {
  std::span<const std::uint8_t> frame;
  std::string why;
  if (wire::encode_view(m, &frame, limits, &why) != Status::ok) {
    log("cannot encode a message: " + why);
    return 0;
  }
  transport.send(m.to, frame);  // a loss is tolerated
  return frame.size();
}

}  // namespace synod::detail
