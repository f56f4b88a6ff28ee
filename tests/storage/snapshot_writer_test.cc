// A Ready's snapshot through the LogWriter: one submission, written on the
// writer thread, compaction after it.
#include <doctest/doctest.h>

#include "snapshot_test_util.h"
#include "synod/log_writer.h"

using namespace synod;
using namespace synod::test;

TEST_CASE("a Ready with a snapshot goes through the writer in one submission") {
  TestLog t(4096);
  Snapshot snap = snapshot_at(120, 50000);
  HardState hs{Ballot{3, NodeId{1}}, Slot{130}, true};
  {
    auto log = t.open_ok();
    LogWriter writer(*log, nullptr);
    for (std::uint64_t s = 1; s <= 120; ++s) {
      writer.submit(nullptr, std::vector<Entry>{entry(s, command_for(s, 100))});
      if (s % 10 == 0) REQUIRE(writer.flush() == Status::ok);  // several segments
    }
    std::size_t before = log->stats().segments;
    std::vector<Entry> fresh = entries_between(121, 130, 100);
    LogWriter::Submitted sub = writer.submit(&snap, Slot{101}, &hs, fresh);
    REQUIRE(sub.ok());
    // Staged at once, on this thread: the read side has it already.
    CHECK(log->snapshot().data == snap.data);
    REQUIRE(writer.flush() == Status::ok);
    CHECK(writer.durable_sequence() >= sub.sequence);
    CHECK(log->stats().segments < before);  // compacted below keep_from on the writer thread
    Snapshot bad = snapshot_at(100);
    CHECK(writer.submit(&bad, Slot{90}, nullptr, {}).status == Status::invalid_argument);
    writer.stop();
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(same_snapshot(log->snapshot(), snap));
  CHECK(log->entries() == entries_between(101, 130, 100));
  CHECK(log->hard_state() == hs);
}
