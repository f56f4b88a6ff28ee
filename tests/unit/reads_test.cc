// Follower reads and lease reads, on three replicas that deliver to each
// other at once (or not, for cut-off nodes).
#include <doctest/doctest.h>

#include "test_cluster.h"

using namespace synod;

namespace {

// Three voters of the test-cluster harness; lease reads on or off.
test::TestCluster trio(bool lease) {
  return test::TestCluster(3, [lease](Config& c) {
    c.lease_reads = lease;
    c.max_drift_ticks = 2;
  });
}

test::TestCluster led_by_1(bool lease) {
  test::TestCluster t = trio(lease);
  t.node(1).campaign();
  t.settle();
  REQUIRE(t.node(1).info().role == Role::leader);
  REQUIRE(t.node(1).propose("x").ok());
  t.settle();
  t.tick_all(3);  // followers learn the commit index and the leader
  return t;
}

}  // namespace

TEST_CASE("a follower read asks the leader for the index and reports it") {
  test::TestCluster t = led_by_1(false);
  ProposeResult rr = t.node(2).read();
  REQUIRE(rr.ok());
  t.tick_all(2);
  REQUIRE(t.at(2).reads.size() == 1);
  CHECK(t.at(2).reads[0].ticket == rr.ticket);
  CHECK(t.at(2).reads[0].ok);
  CHECK(t.at(2).reads[0].index == t.node(1).info().commit);
  CHECK(t.at(1).reads.empty());  // the leader's host sees nothing of it
}

TEST_CASE("a follower read fails when the leader cannot confirm it") {
  test::TestCluster t = led_by_1(false);
  t.isolate(1);
  ProposeResult rr = t.node(2).read();
  REQUIRE(rr.ok());
  t.tick_all(25);
  REQUIRE(!t.at(2).reads.empty());
  CHECK(t.at(2).reads[0].ticket == rr.ticket);
  CHECK_FALSE(t.at(2).reads[0].ok);
}

TEST_CASE("a follower that hears no leader refuses reads") {
  test::TestCluster t = trio(false);
  ProposeResult rr = t.node(2).read();
  CHECK(rr.status == Status::not_leader);
}

TEST_CASE(
    "a leader holding a lease answers reads at once; once the lease ran out it needs a round") {
  test::TestCluster t = led_by_1(true);
  t.tick_all(12);  // past the new leader's wait; heartbeat rounds give a lease
  ProposeResult rr = t.node(1).read();
  REQUIRE(rr.ok());
  // Answered in the leader's Readys, before any message is delivered.
  t.at(1).reads.clear();
  std::size_t on_wire = t.wire.size();
  t.drain(1);
  CHECK(t.wire.size() == on_wire);  // no round: nothing sent
  REQUIRE(t.at(1).reads.size() == 1);
  CHECK(t.at(1).reads[0].ok);
  // Isolated, the leader's lease runs out after election - drift ticks; a
  // read then waits for a round a majority never acknowledges.
  t.isolate(1);
  for (int i = 0; i < 9; ++i) t.node(1).tick();
  t.settle();
  t.at(1).reads.clear();
  ProposeResult late = t.node(1).read();
  REQUIRE(late.ok());
  t.settle();
  for (const ReadState& s : t.at(1).reads) CHECK(s.ticket != late.ticket);
}

TEST_CASE("with lease reads a new leader waits an election timeout before its first accepts") {
  test::TestCluster t = trio(true);
  t.node(1).campaign();
  t.settle();
  REQUIRE(t.node(1).info().role == Role::leader);
  REQUIRE(t.node(1).propose("x").ok());
  t.settle();
  CHECK(t.node(2).info().last_slot.value == 0);  // no accept reached it yet
  t.tick_all(12);
  CHECK(t.node(1).info().commit.value >= 2);
  CHECK(t.node(2).info().last_slot.value >= 2);
}
