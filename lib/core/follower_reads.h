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
  // Request ids start at a random point: a reply to a request of an earlier
  // incarnation must not answer one of this one (Config::seed differs per
  // start).
  explicit FollowerReads(Context& ctx) : ctx_(ctx), next_id_(ctx.rng.next() | 1) {}

  // Asks the leader this replica follows. Precondition: it knows one.
  void request(Ticket t);
  void on_reply(const Message& msg);
  // Requests unanswered for two election timeouts fail (the leader or the
  // messages are gone): nothing was read, the host retries.
  void tick();
  // No read waits for its leader's answer (a replica sleeps only then).
  bool idle() const { return waiting_.empty(); }

 private:
  struct Waiting {
    Ticket ticket{};
    NodeId leader{};
    std::uint64_t ticks = 0;
  };
  Context& ctx_;
  std::map<std::uint64_t, Waiting> waiting_;  // request id -> read
  std::uint64_t next_id_;
};

}  // namespace synod::detail
