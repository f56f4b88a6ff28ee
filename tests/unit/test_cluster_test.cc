// The test-cluster harness itself (tests/harness): its Ready loop keeps the
// hosts' state machines in agreement through commits, restarts, snapshots
// and a wiped disk, and settle() reports a cluster that never goes quiet.
#include "test_cluster.h"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace synod;
using synod::test::TestCluster;

namespace {

TestCluster led_by_1() {
  TestCluster c(3, [](Config& cfg) { cfg.compaction_tail = 0; });
  c.node(1).campaign();
  c.settle();
  REQUIRE(c.leader() == 1);
  return c;
}

}  // namespace

TEST_CASE("harness: three replicas commit; outcomes, membership and state machines agree") {
  TestCluster c = led_by_1();
  ProposeResult p = c.node(1).propose("a");
  REQUIRE(p.ok());
  c.settle();
  REQUIRE(c.commit_everywhere("b"));
  // A configuration is announced (the configured one is not) and applies
  // nothing; messages to the new learner, never started, are lost.
  REQUIRE(c.node(1).change_membership(MembershipOp::add_learner, NodeId{4}).ok());
  c.tick_all(5);
  CHECK(c.undelivered > 0);
  for (std::uint64_t id : {1, 2, 3}) {
    CAPTURE(id);
    CHECK(c.at(id).commands == std::vector<std::string>{"a", "b"});
    REQUIRE(c.at(id).membership.has_value());
    CHECK(c.at(id).membership->is_learner(NodeId{4}));
    CHECK(c.at(id).applied_slot == c.node(1).info().commit);
  }
  bool reported = false;
  for (const ProposalOutcome& o : c.at(1).outcomes)
    if (o.ticket == p.ticket) reported = o.outcome == Outcome::committed;
  CHECK(reported);
  CHECK(c.sent[MessageType::prepare] > 0);
  CHECK(c.sent[MessageType::accept] > 0);
}

TEST_CASE("harness: a restarted replica replays into an empty state machine") {
  TestCluster c = led_by_1();
  REQUIRE(c.commit_everywhere("a"));
  c.stop(2);
  REQUIRE(c.commit_everywhere("b"));  // node 2 is not running: not waited for
  CHECK_FALSE(c.at(2).has_command("b"));
  c.start(2);
  c.tick_all(5);
  CHECK(c.at(2).commands == c.at(1).commands);
}

TEST_CASE("harness: a wiped replica catches up from a snapshot the leader saved") {
  TestCluster c = led_by_1();
  for (const char* cmd : {"a", "b", "c"}) REQUIRE(c.commit_everywhere(cmd));
  REQUIRE(c.compact(1) == Status::ok);
  c.settle();
  CHECK(c.at(1).snapshots_saved == 1);
  CHECK(c.at(1).storage.snapshot().meta.slot == c.at(1).applied_slot);
  c.wipe(3);
  CHECK(c.at(3).commands.empty());
  c.at(3).config.join_existing = true;
  c.start(3);
  c.tick_all(40);
  CHECK(c.at(3).restores.size() == 1);
  CHECK(c.at(3).commands == c.at(1).commands);
}

TEST_CASE("harness: settle() throws when the cluster never goes quiet") {
  TestCluster c = led_by_1();
  // Every delivery puts the message back on the wire: it never empties.
  c.deliver = [&c](const Message& m) {
    c.wire.push_back(m);
    return false;
  };
  REQUIRE(c.node(1).propose("x").ok());
  CHECK_THROWS_AS(c.settle(1000), std::runtime_error);
}

TEST_CASE("harness: an isolated node hears nothing until healed") {
  TestCluster c = led_by_1();
  c.isolate(3);
  REQUIRE(c.commit_everywhere("a") == false);  // node 3 never applies it
  CHECK(c.at(2).has_command("a"));
  CHECK_FALSE(c.at(3).has_command("a"));
  c.heal();
  c.tick_all(5);
  CHECK(c.at(3).has_command("a"));
}
