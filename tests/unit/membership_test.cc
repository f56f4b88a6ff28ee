// Membership changes: learners, automatic promotion, removal of the leader,
// one change at a time, and the configuration surviving snapshots. Replicas
// (tests/harness) deliver to each other at once; node ids are 1..5, members
// or not.
#include "synod/membership.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test_cluster.h"
#include "test_names.h"

using namespace synod;
using synod::test::numbered;

namespace {

// Nodes 1..3 vote from the start (the test-cluster harness); 4 and 5 join
// later with start().
struct Cluster : test::TestCluster {
  Cluster() : TestCluster(3, tune) {}

  static void tune(Config& c) {
    c.max_inflight = 8;
    c.alpha = 4;
    c.promote_lag = 2;
    c.compaction_tail = 0;
  }
  // Starts (or restarts, with an empty state machine) node `id`; a node
  // joining the running cluster names the voters it knows and itself as a
  // learner.
  void start(std::uint64_t id, std::vector<NodeId> learners, bool join) {
    Config c;
    c.id = NodeId{id};
    c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
    c.learners = std::move(learners);
    c.seed = id;
    tune(c);
    c.join_existing = join;
    add(c);
    TestCluster::start(id);
  }
  // The commands node `id`'s state machine applied.
  const std::vector<std::string>& applied(std::uint64_t id) const { return at(id).commands; }
  void propose(int count, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      std::uint64_t l = leader();
      REQUIRE(l != 0);
      REQUIRE(node(l).propose(numbered(prefix, i)).ok());
      settle();
    }
    tick_all(2);
  }
};

Cluster led_by_1() {
  Cluster c;
  c.node(1).campaign();
  c.settle();
  REQUIRE(c.leader() == 1);
  return c;
}

}  // namespace

TEST_CASE("a voter added with add_voter joins as a learner and is promoted once caught up") {
  Cluster c = led_by_1();
  c.propose(10, "a");
  c.start(4, {NodeId{4}}, /*join=*/true);
  ProposeResult add = c.node(1).change_membership(MembershipOp::add_voter, NodeId{4});
  REQUIRE(add.ok());
  // One change at a time.
  CHECK(c.node(1).change_membership(MembershipOp::add_learner, NodeId{5}).status == Status::busy);
  c.settle();
  c.propose(6, "b");
  c.tick_all(10);
  Membership m = c.node(1).info().membership;
  CHECK(m.is_voter(NodeId{4}));
  CHECK(m.voters.size() == 4);
  CHECK(m.learners.empty());
  CHECK(c.applied(4) == c.applied(1));
  CHECK(c.at(1).membership == m);
  CHECK(c.node(4).info().membership == m);
  // Node 4 now counts: with two of the old voters cut off, 1 and 4 are not
  // a majority of four, so nothing commits; with one cut off they are.
  c.deliver = [](const Message& msg) { return msg.to != NodeId{3} && msg.from != NodeId{3}; };
  c.propose(3, "c");
  CHECK(c.applied(4) == c.applied(1));
  CHECK(c.applied(1).size() == 19);
}

TEST_CASE("a learner receives the log but never votes nor campaigns") {
  Cluster c = led_by_1();
  c.start(4, {NodeId{4}}, /*join=*/true);
  REQUIRE(c.node(1).change_membership(MembershipOp::add_learner, NodeId{4}).ok());
  c.settle();
  c.propose(5, "a");
  c.tick_all(10);
  CHECK(c.node(1).info().membership.is_learner(NodeId{4}));
  CHECK(c.applied(4) == c.applied(1));
  c.node(4).campaign();
  c.settle();
  CHECK(c.node(4).info().role == Role::follower);
  // Its acknowledgements do not count: with 2 and 3 cut off, nothing commits.
  c.deliver = [](const Message& msg) {
    for (std::uint64_t id : {2, 3})
      if (msg.to == NodeId{id} || msg.from == NodeId{id}) return false;
    return true;
  };
  std::size_t before = c.applied(1).size();
  REQUIRE(c.node(1).propose("stuck").ok());
  c.settle();
  CHECK(c.applied(1).size() == before);
}

TEST_CASE("membership changes that make no sense are refused") {
  Cluster c = led_by_1();
  c.propose(2, "a");
  CHECK(c.node(2).change_membership(MembershipOp::add_learner, NodeId{4}).status ==
        Status::not_leader);
  CHECK(c.node(1).change_membership(MembershipOp::add_voter, NodeId{2}).status ==
        Status::invalid_argument);
  CHECK(c.node(1).change_membership(MembershipOp::promote, NodeId{2}).status ==
        Status::invalid_argument);
  CHECK(c.node(1).change_membership(MembershipOp::remove, NodeId{5}).status ==
        Status::invalid_argument);
  CHECK(c.node(1).change_membership(MembershipOp::add_learner, NodeId{}).status ==
        Status::invalid_argument);
}

TEST_CASE("a removed leader hands over to a remaining voter and steps down") {
  Cluster c = led_by_1();
  c.propose(4, "a");
  ProposeResult rm = c.node(1).change_membership(MembershipOp::remove, NodeId{1});
  REQUIRE(rm.ok());
  c.settle();
  c.tick_all(20);
  std::uint64_t l = c.leader();
  CHECK((l == 2 || l == 3));
  CHECK(c.node(l).info().membership.voters.size() == 2);
  CHECK(!c.node(l).info().membership.is_member(NodeId{1}));
  c.propose(3, "b");
  std::size_t i = l - 1;
  CHECK(c.applied(i + 1).size() == 7);
  // The removed node never campaigns again.
  c.tick_all(40);
  CHECK(c.node(1).info().role != Role::leader);
  CHECK(c.leader() == l);
}

TEST_CASE(
    "replacing a voter: add the new one, then remove the old; a snapshot keeps the "
    "configuration across a restart") {
  Cluster c = led_by_1();
  c.propose(4, "a");
  c.start(4, {NodeId{4}}, /*join=*/true);
  REQUIRE(c.node(1).change_membership(MembershipOp::add_voter, NodeId{4}).ok());
  c.settle();
  c.propose(4, "b");
  c.tick_all(10);
  REQUIRE(c.node(1).info().membership.is_voter(NodeId{4}));
  // Node 4 started empty (a joining process): promoted, it rejoins before it
  // votes, by a campaign that may take the leadership over.
  ProposeResult rm;
  for (int tries = 0; tries < 40; ++tries) {
    std::uint64_t l = c.leader();
    rm = l ? c.node(l).change_membership(MembershipOp::remove, NodeId{3})
           : ProposeResult{Status::not_leader, {}, {}};
    if (rm.ok()) break;
    c.tick_all(1);
  }
  REQUIRE(rm.ok());
  c.settle();
  c.propose(4, "c");
  CHECK(c.node(4).info().role != Role::rejoining);
  Membership m = c.node(c.leader()).info().membership;
  CHECK(m.voters.size() == 3);
  CHECK(m.is_voter(NodeId{4}));
  CHECK(!m.is_member(NodeId{3}));
  // Node 2 snapshots and restarts: it knows the configuration from the
  // snapshot alone (no entries kept below it).
  REQUIRE(c.node(2).compact(c.node(2).info().applied, c.at(2).image()) == Status::ok);
  c.drain(2);
  c.start(2, {}, false);
  c.drain(2);
  CHECK(c.node(2).info().membership == m);
  CHECK(c.at(2).membership == m);
  // And the cluster of 1, 2 and 4 commits without node 3.
  c.deliver = [](const Message& msg) { return msg.to != NodeId{3} && msg.from != NodeId{3}; };
  c.propose(2, "d");
  CHECK(c.applied(2) == c.applied(1));
  CHECK(c.applied(4) == c.applied(1));
}
