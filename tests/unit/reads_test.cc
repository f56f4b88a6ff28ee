// Follower reads and lease reads, on three replicas that deliver to each
// other at once (or not, for cut-off nodes).
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
  std::vector<std::vector<ReadState>> reads = std::vector<std::vector<ReadState>>(3);
  NodeId cut{};  // messages to or from this node are lost

  explicit Trio(bool lease) {
    for (std::uint64_t i = 1; i <= 3; ++i) {
      Config c;
      c.id = NodeId{i};
      c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
      c.seed = i;
      c.lease_reads = lease;
      c.max_drift_ticks = 2;
      r.push_back(std::make_unique<Replica>(c, storage[i - 1]));
    }
  }
  void settle() {
    for (int round = 0; round < 10000; ++round) {
      for (std::size_t i = 0; i < 3; ++i) {
        while (r[i]->has_ready()) {
          Ready rd = r[i]->ready();
          storage[i].save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
          storage[i].sync();
          wire.insert(wire.end(), rd.messages.begin(), rd.messages.end());
          reads[i].insert(reads[i].end(), rd.reads.begin(), rd.reads.end());
          r[i]->advance(rd);
        }
      }
      if (wire.empty()) return;
      Message m = wire.front();
      wire.pop_front();
      if (m.to != cut && m.from != cut) r[m.to.value - 1]->step(m);
    }
  }
  void tick_all(int n) {
    for (int t = 0; t < n; ++t) {
      for (auto& x : r) x->tick();
      settle();
    }
  }
};

Trio led_by_1(bool lease) {
  Trio t(lease);
  t.r[0]->campaign();
  t.settle();
  REQUIRE(t.r[0]->info().role == Role::leader);
  REQUIRE(t.r[0]->propose("x").ok());
  t.settle();
  t.tick_all(3);  // followers learn the commit index and the leader
  return t;
}

}  // namespace

TEST_CASE("a follower read asks the leader for the index and reports it") {
  Trio t = led_by_1(false);
  ProposeResult rr = t.r[1]->read();
  REQUIRE(rr.ok());
  t.tick_all(2);
  REQUIRE(t.reads[1].size() == 1);
  CHECK(t.reads[1][0].ticket == rr.ticket);
  CHECK(t.reads[1][0].ok);
  CHECK(t.reads[1][0].index == t.r[0]->info().commit);
  CHECK(t.reads[0].empty());  // the leader's host sees nothing of it
}

TEST_CASE("a follower read fails when the leader cannot confirm it") {
  Trio t = led_by_1(false);
  t.cut = NodeId{1};
  ProposeResult rr = t.r[1]->read();
  REQUIRE(rr.ok());
  t.tick_all(25);
  REQUIRE(!t.reads[1].empty());
  CHECK(t.reads[1][0].ticket == rr.ticket);
  CHECK_FALSE(t.reads[1][0].ok);
}

TEST_CASE("a follower that hears no leader refuses reads") {
  Trio t(false);
  ProposeResult rr = t.r[1]->read();
  CHECK(rr.status == Status::not_leader);
}

TEST_CASE(
    "a leader holding a lease answers reads at once; once the lease ran out it needs a round") {
  Trio t = led_by_1(true);
  t.tick_all(12);  // past the new leader's wait; heartbeat rounds give a lease
  ProposeResult rr = t.r[0]->read();
  REQUIRE(rr.ok());
  // Answered in the next Ready, before any message is delivered.
  REQUIRE(t.r[0]->has_ready());
  Ready rd = t.r[0]->ready();
  REQUIRE(rd.reads.size() == 1);
  CHECK(rd.reads[0].ok);
  t.r[0]->advance(rd);
  // Isolated, the leader's lease runs out after election - drift ticks; a
  // read then waits for a round a majority never acknowledges.
  t.cut = NodeId{1};
  for (int i = 0; i < 9; ++i) t.r[0]->tick();
  t.settle();
  t.reads[0].clear();
  ProposeResult late = t.r[0]->read();
  REQUIRE(late.ok());
  t.settle();
  for (const ReadState& s : t.reads[0]) CHECK(s.ticket != late.ticket);
}

TEST_CASE("with lease reads a new leader waits an election timeout before its first accepts") {
  Trio t(true);
  t.r[0]->campaign();
  t.settle();
  REQUIRE(t.r[0]->info().role == Role::leader);
  REQUIRE(t.r[0]->propose("x").ok());
  t.settle();
  CHECK(t.r[1]->info().last_slot.value == 0);  // no accept reached it yet
  t.tick_all(12);
  CHECK(t.r[0]->info().commit.value >= 2);
  CHECK(t.r[1]->info().last_slot.value >= 2);
}
