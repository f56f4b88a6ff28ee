// The durable log under a real Replica: what the core reads back at start.
// The replica runs in the test-cluster harness (tests/harness), whose Ready
// loop saves into the LogStorage the test opened.
#include <doctest/doctest.h>

#include "log_test_util.h"
#include "synod/replica.h"
#include "test_cluster.h"

using namespace synod;
using namespace synod::test;

namespace {

// Ticks until node 1 leads; false if it does not within 25 ticks.
bool elect(TestCluster& c) {
  for (int i = 0; i < 25 && c.leader() != 1; ++i) c.tick_all(1);
  return c.leader() == 1;
}

// A crash of the machine: the replica and the open log go, what was not
// synced is lost, and the log is opened again for the next start().
void crash_and_reopen(TestCluster& c, TestLog& t, std::unique_ptr<LogStorage>& log) {
  c.stop(1);
  log.reset();
  t.fs.crash();
  log = t.open_ok();
}

}  // namespace

TEST_CASE("a replica restarted on the durable log keeps its promise, entries and commit") {
  TestLog t(4096);
  std::unique_ptr<LogStorage> log = t.open_ok();
  TestCluster c(1, {}, [&](std::uint64_t) -> Storage* { return log.get(); });
  REQUIRE(elect(c));
  for (int i = 0; i < 50; ++i) {
    REQUIRE(c.node(1).propose("cmd " + std::to_string(i)).ok());
    c.settle();
  }
  ReplicaInfo before = c.node(1).info();
  REQUIRE(before.commit.value >= 50);
  crash_and_reopen(c, t, log);
  c.start(1);
  ReplicaInfo after = c.node(1).info();
  CHECK(after.promised == before.promised);
  CHECK(after.last_slot == before.last_slot);
  // The commit index is persisted lazily (the core may learn it after the
  // last Ready); what was stored comes back.
  CHECK(after.commit <= before.commit);
  CHECK(after.commit == log->hard_state().commit);
  CHECK(log->entries().size() == before.last_slot.value);
  // It leads again with a higher ballot (docs/invariants.md, invariant 7).
  REQUIRE(elect(c));
  CHECK(c.node(1).info().ballot > before.ballot);
}

TEST_CASE(
    "a replica compacting onto the durable log restarts from its snapshot and the entries after") {
  TestLog t(4096);
  std::unique_ptr<LogStorage> log = t.open_ok();
  TestCluster c(
      1, [](Config& config) { config.compaction_tail = 10; },
      [&](std::uint64_t) -> Storage* { return log.get(); });
  REQUIRE(elect(c));
  for (int i = 0; i < 200; ++i) {
    REQUIRE(c.node(1).propose("cmd " + std::to_string(i) + std::string(40, 'x')).ok());
    c.settle();
    if (i == 150) {
      REQUIRE(c.compact(1) == Status::ok);
      c.settle();
      CHECK(log->snapshot().meta.slot == c.at(1).applied_slot);
    }
  }
  CHECK(!t.fs.exists(t.segment_path(1)));  // compacted below the snapshot's tail
  Slot before_slot = c.at(1).applied_slot;
  std::string before_image = c.at(1).image();
  REQUIRE(before_slot.value >= 200);
  crash_and_reopen(c, t, log);
  CHECK(!log->snapshot().empty());
  CHECK(log->entries().front().slot.value + 10 >= log->snapshot().meta.slot.value);
  // A host whose state machine did not survive (start() empties it): the
  // replica hands it the snapshot, then the committed entries after it.
  c.at(1).restores.clear();
  c.start(1);
  REQUIRE(elect(c));
  CHECK(c.node(1).info().snapshot == log->snapshot().meta.slot);
  REQUIRE(!c.at(1).restores.empty());
  CHECK(c.at(1).restores.back().meta.slot == log->snapshot().meta.slot);
  CHECK(c.at(1).applied_slot >= before_slot);
  CHECK(c.at(1).image().substr(0, before_image.size()) == before_image);
}
