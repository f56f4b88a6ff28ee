// Quiescence (docs/protocol.md, "Quiescence"): what a replica keeps to fall
// asleep and wake. The rules themselves are Replica::Core's, in
// quiescence.cc: an idle group's leader marks a heartbeat quiesce and
// sleeps; a follower holding exactly the leader's chosen prefix sleeps on
// it; a sleeping replica's tick() does nothing until a message, a call or
// the host's wake() rouses it.
#pragma once

#include <map>

#include "synod/types.h"

namespace synod::detail {

struct Quiescence {
  bool asleep = false;
  // A follower: the leader, ballot and commit index of the quiesce
  // heartbeat it sleeps on; or, while `deferred`, of the last one it could
  // not sleep on yet (a read, a catch-up or a rejoin in progress). That
  // leader sleeps; the follower sleeps at its first tick free of them,
  // unless the leader spoke since.
  NodeId leader{};
  Ballot ballot{};
  Slot commit{};
  bool deferred = false;
  // A leader: the commit index each peer last acknowledged in `acked_in`
  // since the leader last woke. It sleeps only when every member's equals
  // its own (each holds the whole chosen log).
  Ballot acked_in{};
  std::map<NodeId, Slot> acked;

  void forget_deferred() {
    deferred = false;
    leader = NodeId{};
    ballot = Ballot{};
    commit = Slot{};
  }

  void note_ack(NodeId from, Ballot b, Slot commit) {
    if (b != acked_in) {
      acked.clear();
      acked_in = b;
    }
    acked[from] = commit;
  }
};

}  // namespace synod::detail
