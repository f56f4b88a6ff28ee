// Snapshots in the durable log: the file, the record that switches to it,
// recovery, orphans, and compaction after a snapshot.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>

#include "snapshot_test_util.h"

using namespace synod;
using namespace synod::test;

TEST_CASE("a synced snapshot reopens with its meta and data and only the entries from keep_from") {
  TestLog t;
  HardState hs{Ballot{2, NodeId{3}}, Slot{20}, true};
  Snapshot snap = snapshot_at(15);
  {
    auto log = t.open_ok();
    save_sync(*log, &hs, entries_between(1, 20));
    REQUIRE(log->save_snapshot(snap, Slot{11}) == Status::ok);
    // The read side reflects it before any I/O.
    CHECK(same_snapshot(log->snapshot(), snap));
    CHECK(log->entries() == entries_between(11, 20));
    REQUIRE(log->sync() == Status::ok);
    CHECK(log->stats().snapshots_written == 1);
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(!log->empty());
  CHECK(same_snapshot(log->snapshot(), snap));
  CHECK(log->snapshot().data != snap.data);  // read back from disk, not the caller's bytes
  CHECK(log->entries() == entries_between(11, 20));
  CHECK(log->hard_state() == hs);
  CHECK(snapshot_files(t.fs, t.dir) ==
        std::vector<std::string>{"snapshot-00000000000000000015.snap"});
}

TEST_CASE(
    "a staged snapshot shares the caller's bytes and is lost, with its keep_from, in a crash") {
  TestLog t;
  auto log = t.open_ok();
  save_sync(*log, nullptr, entries_between(1, 10));
  Snapshot snap = snapshot_at(8);
  REQUIRE(log->save_snapshot(snap, Slot{9}) == Status::ok);
  CHECK(log->snapshot().data == snap.data);  // the same bytes, not a copy
  CHECK(log->entries() == entries_between(9, 10));
  log.reset();
  t.fs.crash();
  auto again = t.open_ok();
  CHECK(again->snapshot().empty());
  CHECK(again->entries() == entries_between(1, 10));
}

TEST_CASE("a snapshot alone makes a new log non-empty") {
  TestLog t;
  {
    auto log = t.open_ok();
    REQUIRE(log->save_snapshot(snapshot_at(5), Slot{6}) == Status::ok);
    CHECK(!log->empty());
    REQUIRE(log->sync() == Status::ok);
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(!log->empty());
  CHECK(log->entries().empty());
  CHECK(log->snapshot().meta.slot == Slot{5});
}

TEST_CASE("a snapshot not above the last one, or keep_from past its slot, is refused harmlessly") {
  TestLog t;
  auto log = t.open_ok();
  save_sync(*log, nullptr, entries_between(1, 10));
  REQUIRE(log->save_snapshot(snapshot_at(5), Slot{3}) == Status::ok);
  std::uint64_t seq = log->saved_sequence();
  CHECK(log->save_snapshot(snapshot_at(5), Slot{3}) == Status::invalid_argument);
  CHECK(log->save_snapshot(snapshot_at(4), Slot{3}) == Status::invalid_argument);
  CHECK(log->save_snapshot(snapshot_at(7), Slot{9}) == Status::invalid_argument);
  Snapshot null_data = snapshot_at(7);
  null_data.data.reset();
  CHECK(log->save_snapshot(null_data, Slot{8}) == Status::invalid_argument);
  CHECK(log->saved_sequence() == seq);  // nothing staged
  CHECK(log->status() == Status::ok);   // not fatal
  CHECK(log->snapshot().meta.slot == Slot{5});
  CHECK(log->save_snapshot(snapshot_at(7), Slot{8}) == Status::ok);  // slot + 1 is allowed
  REQUIRE(log->sync() == Status::ok);
  CHECK(log->entries() == entries_between(8, 10));
}

TEST_CASE("entries saved below keep_from after a snapshot are ignored, also after a reopen") {
  TestLog t;
  {
    auto log = t.open_ok();
    save_sync(*log, nullptr, entries_between(1, 10));
    REQUIRE(log->save_snapshot(snapshot_at(8), Slot{6}) == Status::ok);
    save_sync(*log, nullptr, {entry(3, "late"), entry(11, "eleven")});
    std::vector<Entry> expected = entries_between(6, 10);
    expected.push_back(entry(11, "eleven"));
    CHECK(log->entries() == expected);
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(log->entries().front().slot == Slot{6});
  CHECK(log->entries().size() == 6);
}

TEST_CASE(
    "keep_from never moves back: a later snapshot with a lower keep_from forgets nothing again") {
  TestLog t(4096);
  {
    auto log = t.open_ok();
    save_sync(*log, nullptr, entries_between(1, 100, 100));
    REQUIRE(log->save_snapshot(snapshot_at(60), Slot{61}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    REQUIRE(log->save_snapshot(snapshot_at(70), Slot{20}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    CHECK(log->entries() == entries_between(61, 100, 100));
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(log->snapshot().meta.slot == Slot{70});
  CHECK(log->entries() == entries_between(61, 100, 100));
}

TEST_CASE("two snapshots staged before one sync write only the last") {
  TestLog t;
  {
    auto log = t.open_ok();
    save_sync(*log, nullptr, entries_between(1, 30));
    REQUIRE(log->save_snapshot(snapshot_at(10), Slot{8}) == Status::ok);
    REQUIRE(log->save(nullptr, entries_between(31, 32)) == Status::ok);
    REQUIRE(log->save_snapshot(snapshot_at(20), Slot{15}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    CHECK(log->stats().snapshots_written == 1);
    CHECK(snapshot_files(t.fs, t.dir) ==
          std::vector<std::string>{"snapshot-00000000000000000020.snap"});
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(same_snapshot(log->snapshot(), snapshot_at(20)));
  CHECK(log->entries() == entries_between(15, 32));
}

TEST_CASE("after several snapshots one file remains, also after a crash and a restart") {
  TestLog t;
  {
    auto log = t.open_ok();
    for (std::uint64_t k = 1; k <= 5; ++k) {
      save_sync(*log, nullptr, entries_between(10 * k - 9, 10 * k));
      REQUIRE(log->save_snapshot(snapshot_at(10 * k - 2, 100 * k), Slot{10 * k - 4}) == Status::ok);
      REQUIRE(log->sync() == Status::ok);
      CHECK(snapshot_files(t.fs, t.dir).size() == 1);
    }
  }
  // The removals were never made durable by a directory fsync: a crash
  // brings old files back, and the next open removes them.
  t.fs.crash();
  CHECK(snapshot_files(t.fs, t.dir).size() > 1);
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  CHECK(r.report.snapshot_files_removed >= 1);
  CHECK(same_snapshot(r.storage->snapshot(), snapshot_at(48, 500)));
  CHECK(r.storage->entries() == entries_between(46, 50));
  CHECK(snapshot_files(t.fs, t.dir) ==
        std::vector<std::string>{"snapshot-00000000000000000048.snap"});
  r.storage.reset();
  t.fs.crash();  // the open's removals were synced
  CHECK(snapshot_files(t.fs, t.dir).size() == 1);
}

TEST_CASE("orphan snapshot files are removed at open, other files are left alone") {
  TestLog t;
  {
    auto log = t.open_ok();
    save_sync(*log, nullptr, entries_between(1, 10));
    REQUIRE(log->save_snapshot(snapshot_at(5), Slot{4}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    // The next snapshot's file is made durable (the first fdatasync), then
    // the batch with its record fails: the file is an orphan.
    t.fs.fail(FsOp::sync_data, EIO, 1);
    REQUIRE(log->save_snapshot(snapshot_at(9), Slot{8}) == Status::ok);
    REQUIRE(log->sync() == Status::storage_error);
  }
  t.fs.crash();
  t.fs.clear_faults();
  REQUIRE(t.fs.exists(snapshot_path(t, 9)));
  t.fs.set_contents(snapshot_path(t, 12) + ".tmp", std::vector<std::byte>(10, std::byte{1}));
  t.fs.set_contents(t.dir + "/notes.txt", std::vector<std::byte>(3, std::byte{2}));
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  CHECK(r.report.snapshot_files_removed == 2);
  CHECK(!t.fs.exists(snapshot_path(t, 9)));
  CHECK(!t.fs.exists(snapshot_path(t, 12) + ".tmp"));
  CHECK(t.fs.exists(t.dir + "/notes.txt"));
  CHECK(same_snapshot(r.storage->snapshot(), snapshot_at(5)));
  CHECK(r.storage->entries() == entries_between(4, 10));
}

TEST_CASE("a missing or damaged snapshot file named by the log refuses to open, naming the file") {
  struct Damage {
    const char* name;
    void (*apply)(TestLog&, const std::string& path);
  };
  const Damage damages[] = {
      {"missing",
       [](TestLog& t, const std::string& path) {
         REQUIRE(t.fs.remove(path).ok());
         REQUIRE(t.fs.sync_dir(t.dir).ok());
       }},
      {"bit flip in the data",
       [](TestLog& t, const std::string& path) {
         auto bytes = t.fs.contents(path);
         bytes[bytes.size() - 10] ^= std::byte{0x20};
         t.fs.set_contents(path, bytes);
       }},
      {"bit flip in the header",
       [](TestLog& t, const std::string& path) {
         auto bytes = t.fs.contents(path);
         bytes[20] ^= std::byte{0x01};
         t.fs.set_contents(path, bytes);
       }},
      {"truncated",
       [](TestLog& t, const std::string& path) {
         auto bytes = t.fs.contents(path);
         REQUIRE(!bytes.empty());
         // Built from the front rather than resize(size - 1), which GCC 12's
         // sanitizer build mistakes for a huge memset (-Wstringop-overflow).
         std::vector<std::byte> cut(bytes.begin(), bytes.end() - 1);
         t.fs.set_contents(path, cut);
       }},
      {"zeroed",
       [](TestLog& t, const std::string& path) {
         t.fs.set_contents(path, std::vector<std::byte>(t.fs.contents(path).size()));
       }},
      {"another snapshot's valid file under this name",
       [](TestLog& t, const std::string& path) {
         std::uint32_t crc = 0;
         Snapshot other = snapshot_at(7, 300, Ballot{5, NodeId{1}});
         auto bytes = storage::encode_snapshot_header(other.meta, *other.data, &crc);
         for (char c : *other.data) bytes.push_back(std::byte(c));
         t.fs.set_contents(path, bytes);
       }},
  };
  for (const Damage& d : damages) {
    INFO(d.name);
    TestLog t;
    {
      auto log = t.open_ok();
      save_sync(*log, nullptr, entries_between(1, 10));
      REQUIRE(log->save_snapshot(snapshot_at(3), Slot{2}) == Status::ok);
      REQUIRE(log->sync() == Status::ok);
      REQUIRE(log->save_snapshot(snapshot_at(7), Slot{5}) == Status::ok);
      REQUIRE(log->sync() == Status::ok);
    }
    t.fs.crash();  // brings back snapshot 3's file: an orphan that must survive a refusal
    REQUIRE(t.fs.exists(snapshot_path(t, 3)));
    d.apply(t, snapshot_path(t, 7));
    LogStorage::OpenResult r = t.open();
    INFO(r.error);
    CHECK(r.status == Status::corrupt);
    CHECK(r.error.find(snapshot_path(t, 7)) != std::string::npos);
    CHECK(r.storage == nullptr);
    CHECK(t.fs.exists(snapshot_path(t, 3)));  // nothing removed for the operator's sake
  }
}

TEST_CASE("segments below keep_from go once the snapshot is durable, and the log keeps working") {
  TestLog t(4096);
  std::vector<Entry> kept;
  {
    auto log = t.open_ok();
    HardState hs{Ballot{1, NodeId{1}}, Slot{200}, true};
    for (std::uint64_t s = 1; s <= 200; ++s) save_sync(*log, &hs, {entry(s, command_for(s, 100))});
    std::size_t before = log->stats().segments;
    REQUIRE(before >= 6);
    REQUIRE(log->save_snapshot(snapshot_at(150), Slot{121}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    CHECK(log->stats().segments < before);
    CHECK(!t.fs.exists(t.segment_path(1)));
    CHECK(log->compacted_below() == Slot{121});
    CHECK(log->entries() == std::vector<Entry>(entries_between(121, 200, 100)));
    for (std::uint64_t s = 201; s <= 260; ++s)
      save_sync(*log, nullptr, {entry(s, command_for(s, 100))});
    kept = log->entries();
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(log->entries() == kept);
  CHECK(kept.front().slot == Slot{121});
  CHECK(kept.back().slot == Slot{260});
  CHECK(log->hard_state().commit == Slot{200});
  CHECK(same_snapshot(log->snapshot(), snapshot_at(150)));
  save_sync(*log, nullptr, {entry(261, "after")});
}

TEST_CASE("the latest snapshot record survives the compaction of its segment") {
  TestLog t(4096);
  auto log = t.open_ok();
  save_sync(*log, nullptr, entries_between(1, 50, 100));
  REQUIRE(log->save_snapshot(snapshot_at(50), Slot{41}) == Status::ok);
  REQUIRE(log->sync() == Status::ok);
  std::uint64_t snapshot_segment = log->end().segment_seq;
  for (std::uint64_t round = 1; round <= 2; ++round) {
    // Far more entries, then a compaction that drops the segment holding the
    // latest snapshot record (and, the second time, the one holding its
    // rewrite).
    std::uint64_t last = log->entries().back().slot.value;
    for (std::uint64_t s = last + 1; s <= last + 200; ++s)
      save_sync(*log, nullptr, {entry(s, command_for(s, 100))});
    std::uint64_t files = log->stats().snapshots_written;
    REQUIRE(log->compact(Slot{last + 150}) == Status::ok);
    CHECK(!t.fs.exists(t.segment_path(snapshot_segment)));
    snapshot_segment = log->end().segment_seq;
    CHECK(log->stats().snapshots_written == files);  // a record rewritten, no new file
    std::vector<Entry> kept = log->entries();
    log.reset();
    t.fs.crash();
    log = t.open_ok();
    CHECK(same_snapshot(log->snapshot(), snapshot_at(50)));
    CHECK(log->entries() == kept);
  }
}

TEST_CASE("a snapshot staged while the writer's compaction runs is not undone by its rewrite") {
  // compact() rewrites the latest durable snapshot record when its segment
  // goes; a newer snapshot staged before that batch must stay the latest.
  TestLog t(4096);
  auto log = t.open_ok();
  save_sync(*log, nullptr, entries_between(1, 20, 100));
  REQUIRE(log->save_snapshot(snapshot_at(20), Slot{10}) == Status::ok);
  REQUIRE(log->sync() == Status::ok);
  save_sync(*log, nullptr, entries_between(21, 150, 100));
  REQUIRE(log->save_snapshot(snapshot_at(140), Slot{100}) == Status::ok);
  // compact() syncs the staged snapshot together with its own batch.
  REQUIRE(log->compact(Slot{100}) == Status::ok);
  log.reset();
  t.fs.crash();
  auto again = t.open_ok();
  CHECK(same_snapshot(again->snapshot(), snapshot_at(140)));
  CHECK(again->entries() == entries_between(100, 150, 100));
}

TEST_CASE("an 8 MiB snapshot round-trips") {
  TestLog t;
  Snapshot big = snapshot_at(1000, 8u << 20);
  {
    auto log = t.open_ok();
    REQUIRE(log->save_snapshot(big, Slot{1001}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(same_snapshot(log->snapshot(), big));
  CHECK(log->snapshot().data->size() == 8u << 20);
}

TEST_CASE("a full disk while writing the snapshot file is no_space and keeps the old snapshot") {
  TestLog t(1u << 16, Preallocation::none);
  auto log = t.open_ok();
  save_sync(*log, nullptr, entries_between(1, 20));
  REQUIRE(log->save_snapshot(snapshot_at(10), Slot{5}) == Status::ok);
  REQUIRE(log->sync() == Status::ok);
  t.fs.set_capacity_bytes(t.fs.used_bytes() + 5000);
  REQUIRE(log->save_snapshot(snapshot_at(18, 20000), Slot{15}) == Status::ok);
  CHECK(log->sync() == Status::no_space);
  CHECK(log->status() == Status::no_space);
  // What the failed file took is given back; the old file is untouched.
  CHECK(snapshot_files(t.fs, t.dir) ==
        std::vector<std::string>{"snapshot-00000000000000000010.snap"});
  log.reset();
  t.fs.crash(1u << 20);
  t.fs.set_capacity_bytes(0);
  auto again = t.open_ok();
  CHECK(same_snapshot(again->snapshot(), snapshot_at(10)));
  CHECK(again->entries() == entries_between(5, 20));
}

TEST_CASE("a snapshot on the real file system round-trips, 8 MiB of it") {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/synod-snap-XXXXXX";
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  LogOptions o;
  o.segment_bytes = 1u << 20;
  Snapshot big = snapshot_at(77, 8u << 20);
  {
    LogStorage::OpenResult r = LogStorage::open(dir, o);
    REQUIRE(r.ok());
    save_sync(*r.storage, nullptr, entries_between(1, 100));
    REQUIRE(r.storage->save_snapshot(big, Slot{70}) == Status::ok);
    REQUIRE(r.storage->sync() == Status::ok);
  }
  LogStorage::OpenResult r = LogStorage::open(dir, o);
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(same_snapshot(r.storage->snapshot(), big));
  CHECK(r.storage->entries() == entries_between(70, 100));
  r.storage.reset();
  std::vector<std::string> names;
  REQUIRE(posix_file_system().list(dir, &names).ok());
  for (const std::string& n : names) (void)posix_file_system().remove(dir + "/" + n);
  ::rmdir(dir.c_str());
}
