// The durable log under a real Replica: what the core reads back at start.
#include <doctest/doctest.h>

#include "log_test_util.h"
#include "synod/replica.h"

using namespace synod;
using namespace synod::test;

namespace {

void drain(Replica& r, LogStorage& log) {
  while (r.has_ready()) {
    Ready rd = r.ready();
    REQUIRE(log.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries) == Status::ok);
    if (rd.must_sync) REQUIRE(log.sync() == Status::ok);
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
  // It leads again with a higher ballot (DESIGN section 10: no reused ballot).
  for (int i = 0; i < 25 && again.info().role != Role::leader; ++i)
    again.tick(), drain(again, *log);
  REQUIRE(again.info().role == Role::leader);
  CHECK(again.info().ballot > before.ballot);
}
