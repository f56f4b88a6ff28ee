// LogStorage as a Storage: round trips, replacement, segment rolls,
// compaction, options and the directory lock.
#include <doctest/doctest.h>

#include <algorithm>

#include "log_test_util.h"

using namespace synod;
using namespace synod::test;

TEST_CASE("a new log is empty and reopens empty") {
  TestLog t;
  {
    auto log = t.open_ok();
    CHECK(log->empty());
    CHECK(log->entries().empty());
    CHECK(log->hard_state() == HardState{});
  }
  auto log = t.open_ok();
  CHECK(log->empty());
}

TEST_CASE("a saved hard state and entries survive a reopen unchanged") {
  TestLog t;
  HardState hs{Ballot{3, NodeId{2}}, Slot{2}, true};
  std::vector<Entry> saved = {
      Entry{Slot{1}, Ballot{3, NodeId{2}}, Value::of_commands({"a", "bb", ""})},
      Entry{Slot{2}, Ballot{3, NodeId{2}}, Value::noop()},
      Entry{Slot{3}, Ballot{1, NodeId{1}}, Value::of_commands({std::string(1000, 'x')})},
  };
  {
    auto log = t.open_ok();
    save_sync(*log, &hs, saved);
  }
  t.fs.crash();  // only what was synced counts
  auto log = t.open_ok();
  CHECK(!log->empty());
  CHECK(log->hard_state() == hs);
  CHECK(log->entries() == saved);
}

TEST_CASE("an entry saved again for the same slot replaces it, also after a reopen") {
  TestLog t;
  {
    auto log = t.open_ok();
    save_sync(*log, nullptr, {entry(1, "first"), entry(2, "two")});
    save_sync(*log, nullptr, {entry(1, "second", Ballot{2, NodeId{2}})});
    CHECK(log->entries() ==
          std::vector<Entry>{entry(1, "second", Ballot{2, NodeId{2}}), entry(2, "two")});
  }
  auto log = t.open_ok();
  CHECK(log->entries() ==
        std::vector<Entry>{entry(1, "second", Ballot{2, NodeId{2}}), entry(2, "two")});
}

TEST_CASE("unsynced saves are visible to readers and lost in a crash") {
  TestLog t;
  HardState hs1{Ballot{1, NodeId{1}}, Slot{0}, true};
  HardState hs2{Ballot{2, NodeId{1}}, Slot{1}, true};
  auto log = t.open_ok();
  save_sync(*log, &hs1, {entry(1, "a")});
  REQUIRE(log->save(&hs2, std::vector<Entry>{entry(2, "b")}) == Status::ok);
  CHECK(log->entries().size() == 2);
  CHECK(log->hard_state() == hs2);
  CHECK(log->durable_sequence() < log->saved_sequence());
  t.fs.crash();
  log.reset();
  auto again = t.open_ok();
  CHECK(again->entries() == std::vector<Entry>{entry(1, "a")});
  CHECK(again->hard_state() == hs1);
}

TEST_CASE("many saves share one sync and become durable together") {
  TestLog t;
  auto log = t.open_ok();
  std::uint64_t before = log->stats().syncs;
  for (std::uint64_t s = 1; s <= 50; ++s) {
    HardState hs{Ballot{1, NodeId{1}}, Slot{s}, true};
    REQUIRE(log->save(&hs, std::vector<Entry>{entry(s, command_for(s, 20))}) == Status::ok);
  }
  REQUIRE(log->sync() == Status::ok);
  CHECK(log->stats().syncs == before + 1);
  CHECK(log->durable_sequence() == log->saved_sequence());
  log.reset();
  t.fs.crash();
  CHECK(t.open_ok()->entries().size() == 50);
}

TEST_CASE("segments roll at the configured size and a reopen reads across all of them") {
  TestLog t(4096);
  std::vector<Entry> all;
  {
    auto log = t.open_ok();
    for (std::uint64_t s = 1; s <= 200; ++s) {
      all.push_back(entry(s, command_for(s, 100)));
      HardState hs{Ballot{1, NodeId{1}}, Slot{s}, true};
      save_sync(*log, &hs, {all.back()});
    }
    LogStats st = log->stats();
    CHECK(st.segments >= 5);
    CHECK(log->end().segment_seq == st.segments);
    CHECK(log->end().offset <= 4096);
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(log->entries() == all);
  CHECK(log->hard_state().commit == Slot{200});
}

TEST_CASE("a batch larger than a segment gets a segment of its own") {
  TestLog t(4096);
  auto log = t.open_ok();
  save_sync(*log, nullptr, {entry(1, "small")});
  save_sync(*log, nullptr, {entry(2, std::string(10000, 'z'))});
  CHECK(log->end().segment_seq == 2);
  CHECK(log->end().offset > 10000);
  save_sync(*log, nullptr, {entry(3, "after")});
  CHECK(log->end().segment_seq == 3);
  log.reset();
  CHECK(t.open_ok()->entries().size() == 3);
}

TEST_CASE("every preallocation mode reopens the same log") {
  for (Preallocation p :
       {Preallocation::none, Preallocation::allocate, Preallocation::write_zeros}) {
    TestLog t(8192, p);
    std::vector<Entry> all;
    {
      auto log = t.open_ok();
      for (std::uint64_t s = 1; s <= 100; ++s) {
        all.push_back(entry(s, command_for(s, 90)));
        save_sync(*log, nullptr, {all.back()});
      }
    }
    t.fs.crash();
    auto log = t.open_ok();
    CHECK(log->entries() == all);
    auto size = t.fs.contents(t.segment_path(1)).size();
    if (p == Preallocation::none)
      CHECK(size < 8192);
    else
      CHECK(size == 8192);
  }
}

TEST_CASE("compaction drops whole segments below the slot and keeps the latest hard state") {
  TestLog t(4096);
  HardState hs{Ballot{7, NodeId{3}}, Slot{5}, false};
  auto log = t.open_ok();
  // The only hard state record goes into segment 1.
  save_sync(*log, &hs, {entry(1, command_for(1, 100))});
  for (std::uint64_t s = 2; s <= 120; ++s)
    save_sync(*log, nullptr, {entry(s, command_for(s, 100))});
  std::size_t before = log->stats().segments;
  REQUIRE(before >= 4);
  REQUIRE(log->compact(Slot{60}) == Status::ok);
  std::size_t after = log->stats().segments;
  CHECK(after < before);
  CHECK(!t.fs.exists(t.segment_path(1)));
  std::vector<Entry> kept = log->entries();
  REQUIRE(!kept.empty());
  CHECK(kept.front().slot <= Slot{60});  // whole segments only: some below may stay
  CHECK(kept.back().slot == Slot{120});
  CHECK(log->hard_state() == hs);
  CHECK(log->compacted_below() == Slot{60});
  log.reset();
  t.fs.crash();
  auto again = t.open_ok();
  CHECK(again->hard_state() == hs);
  CHECK(again->entries() == kept);  // memory and disk agree on what was dropped
  CHECK(again->compacted_below() == Slot{60});
  // A later compaction drops the segment that held the first compaction record.
  for (std::uint64_t s = 121; s <= 300; ++s)
    save_sync(*again, nullptr, {entry(s, command_for(s, 100))});
  REQUIRE(again->compact(Slot{290}) == Status::ok);
  again.reset();
  t.fs.crash();
  auto third = t.open_ok();
  CHECK(third->compacted_below() == Slot{290});
  CHECK(third->hard_state() == hs);
}

TEST_CASE("compaction never drops the active segment nor anything at or above the slot") {
  TestLog t(4096);
  auto log = t.open_ok();
  for (std::uint64_t s = 1; s <= 10; ++s) save_sync(*log, nullptr, {entry(s, "x")});
  REQUIRE(log->stats().segments == 1);
  REQUIRE(log->compact(Slot{1000}) == Status::ok);
  CHECK(log->entries().size() == 10);
  CHECK(log->compacted_below() == Slot{0});  // nothing dropped, nothing recorded
  for (std::uint64_t s = 11; s <= 200; ++s)
    save_sync(*log, nullptr, {entry(s, command_for(s, 80))});
  REQUIRE(log->compact(Slot{1}) == Status::ok);
  CHECK(log->entries().size() == 200);
}

TEST_CASE("an entry newer than a compacted segment's copy survives compaction") {
  TestLog t(4096);
  auto log = t.open_ok();
  for (std::uint64_t s = 1; s <= 60; ++s) save_sync(*log, nullptr, {entry(s, command_for(s, 100))});
  // Slot 3 rewritten in a later ballot: its live record is in the active segment.
  Entry rewritten = entry(3, "rewritten", Ballot{9, NodeId{2}});
  save_sync(*log, nullptr, {rewritten});
  REQUIRE(log->compact(Slot{50}) == Status::ok);
  std::vector<Entry> kept = log->entries();
  CHECK(std::count(kept.begin(), kept.end(), rewritten) == 1);
  log.reset();
  CHECK(t.open_ok()->entries() == kept);
}

TEST_CASE("a second open of a log directory in use is refused") {
  TestLog t;
  auto log = t.open_ok();
  LogStorage::OpenResult second = t.open();
  CHECK(second.status == Status::storage_error);
  CHECK(second.error.find("LOCK") != std::string::npos);
  log.reset();
  CHECK(t.open().ok());
}

TEST_CASE("an entry above record_bytes_max is refused with too_large and nothing is staged") {
  TestLog t;
  t.options.record_bytes_max = 1000;
  auto log = t.open_ok();
  std::vector<Entry> big = {entry(1, "ok"), entry(2, std::string(2000, 'x'))};
  CHECK(log->save(nullptr, big) == Status::too_large);
  CHECK(log->empty());
  CHECK(log->status() == Status::ok);  // not fatal
  save_sync(*log, nullptr, {entry(1, "ok")});
}

TEST_CASE("nonsense options are refused with invalid_config") {
  TestLog t;
  t.options.segment_bytes = 100;
  LogStorage::OpenResult r = t.open();
  CHECK(r.status == Status::invalid_config);
  CHECK(r.error.find("segment_bytes") != std::string::npos);
}

TEST_CASE("a missing directory is created, or refused when creation is off") {
  TestLog t;
  t.options.create_if_missing = false;
  t.dir = "/absent";
  CHECK(t.open().status == Status::storage_error);
  t.options.create_if_missing = true;
  CHECK(t.open().ok());
}
