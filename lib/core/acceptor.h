// The acceptor role: promises (phase 1b) and acceptances (phase 2b).
// Paxos Made Simple, section 2.2: never accept below a promise.
#pragma once

#include "context.h"

namespace synod::detail {

// The acceptor's rule for one entry, for every acceptance this replica makes,
// the leader's own included: never below the promise (invariant 2,
// docs/invariants.md), staged for the next Ready so it is durable before any
// message saying so leaves (invariant 6).
void accept_entry(Context& ctx, const Entry& e);

class Acceptor {
 public:
  explicit Acceptor(Context& ctx) : ctx_(ctx) {}

  // Phase 1b. Returns true when the promise rose to msg.ballot (the caller
  // steps its proposer down if that ballot outranks it).
  bool on_prepare(const Message& msg);
  // Phase 2b. Returns true when the entries were accepted.
  bool on_accept(const Message& msg);
  // A heartbeat below the promise is answered with a reject; returns whether
  // the heartbeat's ballot is acceptable.
  bool on_heartbeat(const Message& msg);
  // Pre-vote: answers whether a prepare for msg.ballot would be promised now.
  // Changes nothing.
  void on_probe(const Message& msg);
  // Answers a heartbeat on_heartbeat found acceptable: the read round echoed
  // and this replica's commit index.
  void ack_heartbeat(const Message& msg);

 private:
  void reject(const Message& msg);

  Context& ctx_;
};

}  // namespace synod::detail
