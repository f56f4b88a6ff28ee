// The transport interface: moves encoded frames between node ids. It knows
// nothing of Paxos; hosts encode with lib/wire before send() and decode what
// the handler delivers. A custom transport implements just this.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "synod/status.h"
#include "synod/types.h"

namespace synod {

struct Peer {
  NodeId id{};
  std::string address;  // transport-specific (host:port for TCP)
};

class Transport {
 public:
  // Called for each frame received from a known peer. The span is valid only
  // during the call.
  using Handler = std::function<void(NodeId from, std::span<const std::uint8_t> frame)>;

  virtual ~Transport() = default;

  virtual void set_handler(Handler handler) = 0;
  virtual Status start() = 0;
  // Stops sending and delivering; frames queued but not sent are dropped.
  virtual void stop() = 0;
  // Queue a frame for a peer. unavailable when the peer is unknown or the
  // transport stopped; a frame may still be lost later (Paxos tolerates it).
  virtual Status send(NodeId to, std::span<const std::uint8_t> frame) = 0;
  // Replace the peer set (membership change): connects to new peers, drops
  // removed ones.
  virtual void set_peers(const std::vector<Peer>& peers) = 0;
};

}  // namespace synod
