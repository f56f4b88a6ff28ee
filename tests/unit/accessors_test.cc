// Replica::role() and Replica::leader(): the cheap accessors a host's loop
// polls agree with info() in every role.
#include <doctest/doctest.h>

#include "synod/memory_storage.h"
#include "synod/replica.h"
#include "test_cluster.h"

using namespace synod;

namespace {

Config three(std::uint64_t id) {
  Config c;
  c.id = NodeId{id};
  c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  return c;
}

void check_agrees_with_info(const Replica& r) {
  ReplicaInfo i = r.info();
  CHECK(r.role() == i.role);
  CHECK(r.leader() == i.leader);
}

}  // namespace

TEST_CASE("a new follower knows no leader; a single voter leads and names itself") {
  test::TestCluster t(1);
  Replica& r = t.node(1);
  CHECK(r.role() == Role::follower);
  CHECK(!r.leader().valid());
  check_agrees_with_info(r);
  for (int i = 0; i < 40 && r.role() != Role::leader; ++i) t.tick_all(1);
  REQUIRE(r.role() == Role::leader);
  CHECK(r.leader() == NodeId{1});
  check_agrees_with_info(r);
}

TEST_CASE("a follower names the leader whose heartbeat it accepted") {
  MemoryStorage s;
  Replica r(three(2), s);
  Message hb;
  hb.type = MessageType::heartbeat;
  hb.from = NodeId{3};
  hb.to = NodeId{2};
  hb.ballot = Ballot{4, NodeId{3}};
  r.step(hb);
  CHECK(r.role() == Role::follower);
  CHECK(r.leader() == NodeId{3});
  check_agrees_with_info(r);
}

TEST_CASE("a voter that lost its storage reports rejoining, as info() does") {
  MemoryStorage s;
  Config c = three(1);
  c.join_existing = true;
  Replica r(c, s);
  CHECK(r.role() == Role::rejoining);
  check_agrees_with_info(r);
}

TEST_CASE("a candidate reports candidate until it hears promises") {
  auto t = test::TestCluster::alone(1, 3);
  Replica& r = t.node(1);
  r.campaign();
  t.drain(1);  // the prepares go on the wire, to nobody
  CHECK(r.role() == Role::candidate);
  CHECK(!r.leader().valid());
  check_agrees_with_info(r);
}
