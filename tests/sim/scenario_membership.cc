#include "scenario_membership.h"

namespace synod::sim {

void draw_membership_settings(Draw& d, Scenario& sc) {
  // Three seeds in four change the membership; they have one or two spares.
  sc.spares = d.chance(0.75) ? d.between(1, 2) : 0;
  // A small alpha and window, often equal: a change is chosen while the
  // slots after it are still in flight under the configuration before it,
  // which is what a configuration that governs too early gets wrong.
  sc.alpha = static_cast<std::uint32_t>(d.between(2, 8));
  sc.max_inflight = d.chance(0.5) ? sc.alpha : static_cast<std::uint32_t>(d.between(2, 16));
  sc.promote_lag = d.between(2, 64);
}

namespace {

Event change(std::uint64_t tick, MembershipOp op, Draw& d) {
  Event e{tick, EventKind::change};
  e.op = op;
  e.pick = d.next();
  return e;
}

}  // namespace

// Episodes, each a few changes the world asks for in order (each waits
// until the leader takes it: one change at a time) and whose nodes it picks
// when it asks: a spare or a removed node (wiped) for an addition, a member
// for a removal, never going below the initial number of voters.
void add_membership_changes(Draw& d, Scenario& sc) {
  if (sc.spares == 0) return;
  for (std::size_t i = d.between(2, 6); i > 0; --i) {
    std::uint64_t at = d.between(30, sc.fault_ticks - 200);
    std::uint64_t r = d.below(100);
    if (r < 30) {  // a voter more (a learner first, promoted once caught up)
      sc.events.push_back(change(at, MembershipOp::add_voter, d));
    } else if (r < 60) {
      // A voter replaced: the removal goes in as soon as the addition
      // governs, while slots are in flight under the configuration before.
      sc.events.push_back(change(at, MembershipOp::add_voter, d));
      Event e = change(at, MembershipOp::remove, d);
      e.voters_only = true;
      sc.events.push_back(e);
    } else if (r < 80) {  // a learner, later promoted or removed
      sc.events.push_back(change(at, MembershipOp::add_learner, d));
      std::uint64_t later = std::min(at + d.between(10, 300), sc.fault_ticks - 100);
      sc.events.push_back(
          change(later, d.chance(0.6) ? MembershipOp::promote : MembershipOp::remove, d));
    } else {  // a member less (a learner, or a voter above the initial number)
      sc.events.push_back(change(at, MembershipOp::remove, d));
    }
  }
}

}  // namespace synod::sim
