// Leadership transfer, on three replicas that deliver to each other at once.
#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <vector>

#include "synod/memory_storage.h"
#include "synod/replica.h"

using namespace synod;

namespace {

struct Trio {
  std::vector<MemoryStorage> storage = std::vector<MemoryStorage>(3);
  std::vector<std::unique_ptr<Replica>> r;
  std::deque<Message> wire;
  NodeId cut{};  // messages to or from this node are lost

  Trio() {
    for (std::uint64_t i = 1; i <= 3; ++i) {
      Config c;
      c.id = NodeId{i};
      c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
      c.seed = i;
      r.push_back(std::make_unique<Replica>(c, storage[i - 1]));
    }
  }
  // Runs every Ready loop and delivers every message until all is quiet.
  void settle() {
    for (int round = 0; round < 1000; ++round) {
      for (std::size_t i = 0; i < 3; ++i) {
        while (r[i]->has_ready()) {
          Ready rd = r[i]->ready();
          storage[i].save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
          storage[i].sync();
          wire.insert(wire.end(), rd.messages.begin(), rd.messages.end());
          r[i]->advance(rd);
        }
      }
      if (wire.empty()) return;
      Message m = wire.front();
      wire.pop_front();
      if (m.to != cut && m.from != cut) r[m.to.value - 1]->step(m);
    }
  }
  Role role(std::uint64_t id) const { return r[id - 1]->info().role; }
};

}  // namespace

TEST_CASE("a leader hands leadership to the voter it names") {
  Trio t;
  t.r[0]->campaign();
  t.settle();
  REQUIRE(t.role(1) == Role::leader);
  REQUIRE(t.r[0]->propose("before").ok());
  t.settle();
  CHECK(t.r[0]->transfer_leadership(NodeId{3}) == Status::ok);
  ProposeResult during = t.r[0]->propose("during");
  t.settle();
  CHECK(t.role(3) == Role::leader);
  CHECK(t.role(1) == Role::follower);
  CHECK(t.r[2]->info().commit >= t.r[0]->info().commit);
  // Refused while handing over, with the target as the hint (or already
  // refused because node 1 no longer leads).
  CHECK(during.status == Status::not_leader);
  CHECK(during.leader_hint == NodeId{3});
}

TEST_CASE("leadership transfer is refused off the leader and to strangers") {
  Trio t;
  t.r[0]->campaign();
  t.settle();
  CHECK(t.r[1]->transfer_leadership(NodeId{3}) == Status::not_leader);
  CHECK(t.r[0]->transfer_leadership(NodeId{9}) == Status::unknown_peer);
  CHECK(t.r[0]->transfer_leadership(NodeId{1}) == Status::unknown_peer);
}

TEST_CASE("a transfer to a voter that never answers times out and the leader resumes") {
  Trio t;
  t.r[0]->campaign();
  t.settle();
  REQUIRE(t.role(1) == Role::leader);
  t.cut = NodeId{3};  // node 3 hears nothing, and says nothing
  REQUIRE(t.r[0]->transfer_leadership(NodeId{3}) == Status::ok);
  CHECK(t.r[0]->propose("x").status == Status::not_leader);
  for (int i = 0; i < 30; ++i) {
    t.r[0]->tick();
    t.settle();
  }
  CHECK(t.role(1) == Role::leader);
  CHECK(t.r[0]->propose("y").ok());
}
