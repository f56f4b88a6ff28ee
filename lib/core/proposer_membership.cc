// The leader's membership changes: one configuration at a time, each in a
// slot of its own, governing alpha slots later (docs/protocol.md, "Membership").
#include <algorithm>

#include "proposer.h"

namespace synod::detail {

ProposeResult Proposer::change_membership(MembershipOp op, NodeId node) {
  return queue_config(op, node, /*internal=*/false);
}

bool Proposer::config_busy() const {
  if (!leading()) return false;
  const LeaderState& l = leader();
  if (l.pending_config || ctx_.quorum.latest_from() > ctx_.log.commit().next()) return true;
  for (Slot s = ctx_.log.commit().next(); s < l.next_slot; s = s.next())
    if (const Record* r = ctx_.log.find(s); r && r->value.is_config()) return true;
  return false;
}

ProposeResult Proposer::queue_config(MembershipOp op, NodeId node, bool internal) {
  if (!leading()) return {Status::not_leader, {}, ctx_.leader};
  if (transferring()) return {Status::not_leader, {}, transfer_target()};
  if (!node.valid()) return {Status::invalid_argument, {}, {}};
  if (config_busy()) return {Status::busy, {}, {}};
  Membership m = ctx_.quorum.latest();
  auto drop = [](std::vector<NodeId>& ids, NodeId id) { std::erase(ids, id); };
  switch (op) {
    case MembershipOp::add_learner:
    case MembershipOp::add_voter:
      if (m.is_member(node)) return {Status::invalid_argument, {}, {}};
      m.learners.push_back(node);
      break;
    case MembershipOp::promote:
      if (!m.is_learner(node)) return {Status::invalid_argument, {}, {}};
      drop(m.learners, node);
      m.voters.push_back(node);
      break;
    case MembershipOp::remove:
      if (!m.is_member(node) || (m.voters.size() == 1 && m.is_voter(node)))
        return {Status::invalid_argument, {}, {}};
      drop(m.voters, node);
      drop(m.learners, node);
      break;
  }
  SYNOD_ASSERT(!m.voters.empty(), "a configuration without voters");
  if (!ctx_.quorum.fits(m)) return {Status::member_capacity, {}, {}};
  LeaderState& l = leader();
  Ticket t = internal ? Ticket{} : Ticket{next_ticket_++};
  l.pending_config = LeaderState::PendingConfig{std::move(m), t};
  if (op == MembershipOp::add_voter) l.promote_wanted.push_back(node);
  if (op == MembershipOp::remove) std::erase(l.promote_wanted, node);
  return {Status::ok, t, ctx_.self()};
}

// A learner added as a voter is promoted once it is close enough behind that
// it can vote without holding back commits.
void Proposer::maybe_promote(NodeId learner, Slot its_commit) {
  std::vector<NodeId>& wanted = leader().promote_wanted;
  if (std::find(wanted.begin(), wanted.end(), learner) == wanted.end()) return;
  if (!ctx_.quorum.latest().is_learner(learner)) return;  // its addition is not chosen yet
  if (its_commit.value + ctx_.config.promote_lag < ctx_.log.commit().value) return;
  if (queue_config(MembershipOp::promote, learner, /*internal=*/true).ok())
    std::erase(leader().promote_wanted, learner);
}

// A leader the latest configuration removed hands over to a voter that
// remains (it asks it to campaign at once) and steps down.
void Proposer::leave_if_removed() {
  if (!leading() || ctx_.quorum.latest().is_voter(ctx_.self())) return;
  NodeId to{};
  for (NodeId v : ctx_.quorum.latest().voters)
    if (!to.valid() || (leader().heard & ctx_.quorum.bit(v))) to = v;
  if (to.valid()) send_timeout_now(to);
  step_down(to);
}

}  // namespace synod::detail
