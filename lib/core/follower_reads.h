// Linearizable reads on a follower: it asks the leader for a read index (the
// leader confirms its ballot with a majority, as for its own reads), then the
// host serves the read once it applied that index here. Spreads read load
// without giving up linearizability.
#pragma once

#include <map>

#include "context.h"

namespace synod::detail {

class FollowerReads {
 public:
  explicit FollowerReads(Context& ctx) : ctx_(ctx) {}

  // Asks the leader this replica follows. Precondition: it knows one.
  void request(Ticket t);
  void on_reply(const Message& msg);
  // Requests unanswered for two election timeouts fail (the leader or the
  // messages are gone): nothing was read, the host retries.
  void tick();

 private:
  struct Waiting {
    Ticket ticket{};
    NodeId leader{};
    std::uint64_t ticks = 0;
  };
  Context& ctx_;
  std::map<std::uint64_t, Waiting> waiting_;  // request id -> read
  std::uint64_t next_id_ = 1;
};

}  // namespace synod::detail
