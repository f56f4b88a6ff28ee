// The transport interface synod::UvHost drives: moves encoded frames between
// node ids. It knows nothing of Paxos; hosts encode with lib/wire before
// send() and decode what the handler delivers. A custom transport under
// UvHost implements just this, on UvHost's loop. A host that runs its own
// event loop needs no Transport at all: it sends what wire::encode produced
// by its own means and steps what wire::decode_one returns
// (docs/embedding.md, examples/embed/).
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
  // Called for each frame received from a known peer, on the thread of the
  // loop the transport runs on (UvHost's), one frame at a time. The span is
  // valid only during the call. `from` is the peer as the transport knows
  // it (the connection, its handshake or certificate), never read from the
  // frame; the frame's Message::from may disagree (a bug or a forgery), and
  // the host drops such a frame before Replica::step, which trusts
  // Message::from (UvHost does, and logs it).
  using Handler = std::function<void(NodeId from, std::span<const std::uint8_t> frame)>;

  virtual ~Transport() = default;

  virtual void set_handler(Handler handler) = 0;
  virtual Status start() = 0;
  // Stops sending and delivering; frames queued but not sent are dropped.
  virtual void stop() = 0;
  // Queue a frame for a peer. unavailable when the peer is unknown or the
  // transport stopped; a frame may still be lost later (Paxos tolerates it).
  // A frame is at most wire::max_frame_bytes(limits) bytes for the limits
  // the host encodes with (synod/wire.h).
  virtual Status send(NodeId to, std::span<const std::uint8_t> frame) = 0;
  // Replace the peer set (membership change): connects to new peers, drops
  // removed ones.
  virtual void set_peers(const std::vector<Peer>& peers) = 0;
};

}  // namespace synod
