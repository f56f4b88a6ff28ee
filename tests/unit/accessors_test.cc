// Replica::role() and Replica::leader(): the cheap accessors a host's loop
// polls agree with info() in every role.
#include <doctest/doctest.h>

#include "synod/memory_storage.h"
#include "synod/replica.h"

using namespace synod;

namespace {

Config three(std::uint64_t id) {
  Config c;
  c.id = NodeId{id};
  c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  return c;
}

void finish_readys(Replica& r, MemoryStorage& s) {
  while (r.has_ready()) {
    Ready rd = r.ready();
    REQUIRE(s.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries) == Status::ok);
    REQUIRE(s.sync() == Status::ok);
    r.advance(rd);
  }
}

void check_agrees_with_info(const Replica& r) {
  ReplicaInfo i = r.info();
  CHECK(r.role() == i.role);
  CHECK(r.leader() == i.leader);
}

}  // namespace

TEST_CASE("a new follower knows no leader; a single voter leads and names itself") {
  MemoryStorage s;
  Config c = three(1);
  c.voters = {NodeId{1}};
  Replica r(c, s);
  CHECK(r.role() == Role::follower);
  CHECK(!r.leader().valid());
  check_agrees_with_info(r);
  for (int i = 0; i < 40 && r.role() != Role::leader; ++i) r.tick(), finish_readys(r, s);
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
  MemoryStorage s;
  Replica r(three(1), s);
  r.campaign();
  finish_readys(r, s);
  CHECK(r.role() == Role::candidate);
  CHECK(!r.leader().valid());
  check_agrees_with_info(r);
}
