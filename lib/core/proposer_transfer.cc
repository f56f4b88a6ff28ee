// Leadership transfer (docs/protocol.md, "Leadership transfer"): the leader
// stops taking proposals, brings the target up to date, and asks it to
// campaign at once.
#include "proposer.h"

namespace synod::detail {

Status Proposer::transfer(NodeId to) {
  if (!leading()) return Status::not_leader;
  if (to == ctx_.self() || !ctx_.quorum.latest().is_voter(to)) return Status::unknown_peer;
  leader().transfer = TransferState{to, 0, false};
  SYNOD_ASSERT(transfer_target() == to, "transfer to {} not recorded", to.value);
  maybe_hand_over();
  return Status::ok;
}

// The target has acknowledged every slot in flight (queued proposals were
// already turned away): it can lead without recovering anything we hold.
void Proposer::maybe_hand_over() {
  if (!transferring()) return;
  flush();
  LeaderState& l = leader();
  VoterMask target = ctx_.quorum.bit(l.transfer->to);
  for (const LeaderState::InFlight& f : l.inflight)
    if (!(f.acks & target)) return;
  send_timeout_now(l.transfer->to);
  l.transfer->handed_over = true;
}

// Each heartbeat asks again; a transfer the target did not complete within
// an election timeout is abandoned: this leader takes proposals again.
void Proposer::tick_transfer(bool heartbeat_due) {
  if (!transferring()) return;
  if (heartbeat_due) {
    leader().transfer->handed_over = false;
    maybe_hand_over();
  }
  if (++leader().transfer->ticks >= ctx_.config.election_ticks) leader().transfer.reset();
}

void Proposer::send_timeout_now(NodeId to) {
  SYNOD_ASSERT(leading() && to != ctx_.self(), "timeout_now from a non-leader or to itself");
  Message m;
  m.type = MessageType::timeout_now;
  m.to = to;
  m.ballot = ballot_;
  ctx_.send(std::move(m));
}

}  // namespace synod::detail
