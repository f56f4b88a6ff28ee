// Member-id capacity (issue 12): member bits are reused once no
// configuration held names an id, so fresh ids may come and go for ever; a
// change that would name more ids at once than a replica tracks is refused
// with member_capacity instead of being chosen (every replica learning it
// would abort).
#include <doctest/doctest.h>

#include "small_cluster.h"
#include "synod/membership.h"
#include "test_names.h"

using namespace synod;
using synod::test::numbered;
using synod::test::SmallCluster;

namespace {

// Asks the leader for the change until it is not busy; runs until chosen.
Status change(SmallCluster& c, MembershipOp op, NodeId id) {
  for (int t = 0; t < 100; ++t) {
    std::uint64_t l = c.leader();
    REQUIRE(l != 0);
    ProposeResult p = c.node(l).change_membership(op, id);
    if (p.status != Status::busy) {
      c.settle();
      c.tick_all(1);
      return p.status;
    }
    c.tick_all(1);
  }
  FAIL("still busy after 100 ticks");
  return Status::busy;
}

}  // namespace

TEST_CASE("200 learners with fresh ids added and removed one after another; commits go on") {
  SmallCluster c;
  c.node(1).campaign();
  c.settle();
  REQUIRE(c.leader() == 1);
  for (int k = 0; k < 200; ++k) {
    NodeId id{100 + static_cast<std::uint64_t>(k)};
    REQUIRE(change(c, MembershipOp::add_learner, id) == Status::ok);
    REQUIRE(change(c, MembershipOp::remove, id) == Status::ok);
    if (k % 25 == 0) REQUIRE(c.commit_everywhere(numbered("during", k)));
  }
  c.tick_all(10);
  REQUIRE(c.commit_everywhere("after"));
  for (std::uint64_t i = 1; i <= 3; ++i) {
    ReplicaInfo info = c.node(i).info();
    CHECK(info.membership.voters.size() == 3);
    CHECK(info.membership.learners.empty());
  }
  // A replica restarted from its storage replays every configuration.
  c.start(2);
  c.tick_all(5);
  CHECK(c.commit_everywhere("after restart"));
}

TEST_CASE("a change beyond the member-id capacity is refused with member_capacity") {
  SmallCluster c;
  c.node(1).campaign();
  c.settle();
  // 3 voters and 60 learners: 63 ids, the capacity less the spare one.
  for (std::uint64_t id = 4; id <= 63; ++id)
    REQUIRE(change(c, MembershipOp::add_learner, NodeId{id}) == Status::ok);
  CHECK(change(c, MembershipOp::add_learner, NodeId{64}) == Status::member_capacity);
  CHECK(change(c, MembershipOp::add_voter, NodeId{65}) == Status::member_capacity);
  REQUIRE(c.commit_everywhere("full"));
  for (std::uint64_t i = 1; i <= 3; ++i) CHECK(c.node(i).info().membership.learners.size() == 60);
  // One goes, a fresh one takes its bit.
  REQUIRE(change(c, MembershipOp::remove, NodeId{63}) == Status::ok);
  REQUIRE(change(c, MembershipOp::add_learner, NodeId{64}) == Status::ok);
  CHECK(c.commit_everywhere("reused"));
  for (std::uint64_t i = 1; i <= 3; ++i) CHECK(c.node(i).info().membership.is_learner(NodeId{64}));
}
