// The proposer's role changes and the calls every role answers; each role's
// own work is in proposer_candidate.cc, proposer_leader.cc,
// proposer_membership.cc and proposer_transfer.cc.
#include "proposer.h"

namespace synod::detail {

Proposer::Proposer(Context& ctx) : ctx_(ctx) {}

Role Proposer::role() const {
  if (leading()) return Role::leader;
  if (campaigning()) return Role::candidate;
  return Role::follower;
}

CandidateState& Proposer::candidate() {
  SYNOD_ASSERT(campaigning(), "candidate state asked for while {}", to_string(role()));
  return std::get<CandidateState>(state_);
}
const CandidateState& Proposer::candidate() const {
  SYNOD_ASSERT(campaigning(), "candidate state asked for while {}", to_string(role()));
  return std::get<CandidateState>(state_);
}
LeaderState& Proposer::leader() {
  SYNOD_ASSERT(leading(), "leader state asked for while {}", to_string(role()));
  return std::get<LeaderState>(state_);
}
const LeaderState& Proposer::leader() const {
  SYNOD_ASSERT(leading(), "leader state asked for while {}", to_string(role()));
  return std::get<LeaderState>(state_);
}

void Proposer::step_down(NodeId hint) {
  if (role() == Role::follower) return;
  if (leading()) {
    // Each proposal ends with one outcome: unknown once sent in an accept
    // (the next leader may still choose it), not_leader if never sent.
    LeaderState& l = leader();
    for (Ticket t : l.inflight_tickets)
      ctx_.out.outcomes.push_back({t, Outcome::unknown, {}, 0, {}});
    l.pending.for_each_ticket([&](Ticket t) {
      ctx_.out.outcomes.push_back({t, Outcome::not_leader, {}, 0, hint});
    });
    if (l.pending_config && l.pending_config->ticket.value != 0)
      ctx_.out.outcomes.push_back({l.pending_config->ticket, Outcome::not_leader, {}, 0, hint});
  }
  reads_.abandon(hint);
  state_.emplace<FollowerState>();
  if (ctx_.leader == ctx_.self()) ctx_.leader = hint;
  ctx_.quorum.unpin();
  SYNOD_ASSERT(role() == Role::follower && ballot() == Ballot{}, "stepped down, still proposing");
}

ProposeResult Proposer::propose(std::string_view command) {
  if (!leading()) return {Status::not_leader, {}, ctx_.leader};
  if (transferring()) return {Status::not_leader, {}, transfer_target()};
  LeaderState& l = leader();
  if (command.size() > ctx_.config.batch_bytes_max) return {Status::too_large, {}, {}};
  if (l.pending.bytes() + command.size() > ctx_.config.pending_bytes_max)
    return {Status::overloaded, {}, {}};
  Ticket t{next_ticket_++};
  l.pending.push(t, command);
  SYNOD_ASSERT(l.pending.bytes() <= ctx_.config.pending_bytes_max, "{} bytes queued, limit {}",
               l.pending.bytes(), ctx_.config.pending_bytes_max);
  return {Status::ok, t, ctx_.self()};
}

ProposeResult Proposer::read() {
  if (!leading()) return {Status::not_leader, {}, ctx_.leader};
  Ticket t{next_ticket_++};
  reads_.request(t, NodeId{}, 0, /*lease=*/!transferring());
  return {Status::ok, t, ctx_.self()};
}

void Proposer::on_read_index_request(const Message& msg) {
  if (leading()) {
    reads_.request(Ticket{}, msg.from, msg.slot.value, /*lease=*/!transferring());
    return;
  }
  Message r;
  r.type = MessageType::read_index_reply;
  r.to = msg.from;
  r.slot = msg.slot;
  r.reject = true;
  ctx_.send(std::move(r));
}

bool Proposer::tick(bool may_quiesce) {
  ++now_;
  reads_.set_now(now_);
  if (!leading()) return false;
  ctx_.ticks_since_leader = 0;
  LeaderState& l = leader();
  // Lease reads: an old leader may still answer reads from its lease for an
  // election timeout; nothing is chosen in this ballot before it ran out.
  if (l.lease_wait > 0 && --l.lease_wait == 0) send_admitted();
  bool heartbeat_due = ++l.ticks_since_heartbeat >= ctx_.config.heartbeat_ticks;
  if (may_quiesce && heartbeat_due) {
    SYNOD_ASSERT(idle_leader(), "a quiesce heartbeat from a leader with work left");
    // Check-quorum first: a leader that steps down this tick must not put
    // its followers to sleep under it. Idle, it has nothing to resend or
    // hand over.
    check_quorum();
    if (!leading()) return false;
    send_heartbeats(/*quiesce=*/true);
    return true;
  }
  if (heartbeat_due) {
    send_heartbeats();
    resend_unacked();
  }
  tick_transfer(heartbeat_due);
  check_quorum();  // last: it may step down
  return false;
}

}  // namespace synod::detail
