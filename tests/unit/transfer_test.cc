// Leadership transfer, on three replicas (tests/harness) that deliver to each
// other at once.
#include <doctest/doctest.h>

#include "test_cluster.h"

using namespace synod;

namespace {

// Three voters of the test-cluster harness that deliver to each other at once.
test::TestCluster trio() { return test::TestCluster(3); }

}  // namespace

TEST_CASE("a leader hands leadership to the voter it names") {
  test::TestCluster t = trio();
  t.node(1).campaign();
  t.settle();
  REQUIRE(t.node(1).info().role == Role::leader);
  REQUIRE(t.node(1).propose("before").ok());
  t.settle();
  CHECK(t.node(1).transfer_leadership(NodeId{3}) == Status::ok);
  ProposeResult during = t.node(1).propose("during");
  t.settle();
  CHECK(t.node(3).info().role == Role::leader);
  CHECK(t.node(1).info().role == Role::follower);
  CHECK(t.node(3).info().commit >= t.node(1).info().commit);
  // Refused while handing over, with the target as the hint (or already
  // refused because node 1 no longer leads).
  CHECK(during.status == Status::not_leader);
  CHECK(during.leader_hint == NodeId{3});
}

TEST_CASE("leadership transfer is refused off the leader and to strangers") {
  test::TestCluster t = trio();
  t.node(1).campaign();
  t.settle();
  CHECK(t.node(2).transfer_leadership(NodeId{3}) == Status::not_leader);
  CHECK(t.node(1).transfer_leadership(NodeId{9}) == Status::unknown_peer);
  CHECK(t.node(1).transfer_leadership(NodeId{1}) == Status::unknown_peer);
}

TEST_CASE("a transfer to a voter that never answers times out and the leader resumes") {
  test::TestCluster t = trio();
  t.node(1).campaign();
  t.settle();
  REQUIRE(t.node(1).info().role == Role::leader);
  t.isolate(3);  // node 3 hears nothing, and says nothing
  REQUIRE(t.node(1).transfer_leadership(NodeId{3}) == Status::ok);
  CHECK(t.node(1).propose("x").status == Status::not_leader);
  for (int i = 0; i < 30; ++i) {
    t.node(1).tick();
    t.settle();
  }
  CHECK(t.node(1).info().role == Role::leader);
  CHECK(t.node(1).propose("y").ok());
}
