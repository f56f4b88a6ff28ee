// The durable log under a real Replica: what the core reads back at start.
#include <doctest/doctest.h>

#include "log_test_util.h"
#include "synod/replica.h"

using namespace synod;
using namespace synod::test;

namespace {

// The host's state machine: every applied command, in order.
struct Applied {
  std::string state;
  Slot slot{};
};

// The Ready loop, synchronous: snapshot, entries and hard state in one save.
void drain(Replica& r, LogStorage& log, Applied* applied = nullptr) {
  while (r.has_ready()) {
    Ready rd = r.ready();
    REQUIRE(log.save_ready(rd.snapshot ? &*rd.snapshot : nullptr, rd.keep_from,
                           rd.hard_state ? &*rd.hard_state : nullptr, rd.entries) == Status::ok);
    if (rd.must_sync) REQUIRE(log.sync() == Status::ok);
    if (applied && rd.restore) {
      applied->state = *rd.restore->data;
      applied->slot = rd.restore->meta.slot;
    }
    for (const Entry& e : rd.committed) {
      if (!applied) break;
      for (const std::string& c : e.value.commands()) applied->state += c + ";";
      applied->slot = e.slot;
    }
    r.advance(rd);
  }
}

Config single() {
  Config c;
  c.id = NodeId{1};
  c.voters = {NodeId{1}};
  return c;
}

}  // namespace

TEST_CASE("a replica restarted on the durable log keeps its promise, entries and commit") {
  TestLog t(4096);
  ReplicaInfo before;
  {
    auto log = t.open_ok();
    Replica r(single(), *log);
    for (int i = 0; i < 25 && r.info().role != Role::leader; ++i) r.tick(), drain(r, *log);
    REQUIRE(r.info().role == Role::leader);
    for (int i = 0; i < 50; ++i) {
      REQUIRE(r.propose("cmd " + std::to_string(i)).ok());
      drain(r, *log);
    }
    before = r.info();
    REQUIRE(before.commit.value >= 50);
  }
  t.fs.crash();
  auto log = t.open_ok();
  Replica again(single(), *log);
  ReplicaInfo after = again.info();
  CHECK(after.promised == before.promised);
  CHECK(after.last_slot == before.last_slot);
  // The commit index is persisted lazily (the core may learn it after the
  // last Ready); what was stored comes back.
  CHECK(after.commit <= before.commit);
  CHECK(after.commit == log->hard_state().commit);
  CHECK(log->entries().size() == before.last_slot.value);
  // It leads again with a higher ballot (docs/invariants.md, invariant 7).
  for (int i = 0; i < 25 && again.info().role != Role::leader; ++i)
    again.tick(), drain(again, *log);
  REQUIRE(again.info().role == Role::leader);
  CHECK(again.info().ballot > before.ballot);
}

TEST_CASE(
    "a replica compacting onto the durable log restarts from its snapshot and the entries after") {
  TestLog t(4096);
  Config config = single();
  config.compaction_tail = 10;
  Applied before;
  {
    auto log = t.open_ok();
    Replica r(config, *log);
    for (int i = 0; i < 25 && r.info().role != Role::leader; ++i) r.tick(), drain(r, *log, &before);
    REQUIRE(r.info().role == Role::leader);
    for (int i = 0; i < 200; ++i) {
      REQUIRE(r.propose("cmd " + std::to_string(i) + std::string(40, 'x')).ok());
      drain(r, *log, &before);
      if (i == 150) {
        REQUIRE(r.compact(before.slot, before.state) == Status::ok);
        drain(r, *log, &before);
        CHECK(log->snapshot().meta.slot == before.slot);
      }
    }
    CHECK(!t.fs.exists(t.segment_path(1)));  // compacted below the snapshot's tail
    REQUIRE(before.slot.value >= 200);
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(!log->snapshot().empty());
  CHECK(log->entries().front().slot.value + 10 >= log->snapshot().meta.slot.value);
  // A host whose state machine did not survive: the replica hands it the
  // snapshot, then the committed entries after it.
  Applied after;
  Replica again(config, *log);
  for (int i = 0; i < 25 && again.info().role != Role::leader; ++i)
    again.tick(), drain(again, *log, &after);
  REQUIRE(again.info().role == Role::leader);
  CHECK(again.info().snapshot == log->snapshot().meta.slot);
  CHECK(after.slot >= before.slot);
  CHECK(after.state.substr(0, before.state.size()) == before.state);
}
