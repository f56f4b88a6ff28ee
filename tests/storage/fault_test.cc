// I/O faults: every error is fatal and reported as a clear status; nothing
// synced before is lost; the log resumes after a restart once the cause is gone.
#include <doctest/doctest.h>

#include <cerrno>

#include "log_test_util.h"

using namespace synod;
using namespace synod::test;

namespace {

// Synced batches 1..n, one entry each; returns them.
std::vector<Entry> fill(LogStorage& log, std::uint64_t n, std::size_t bytes = 50) {
  std::vector<Entry> out;
  for (std::uint64_t s = 1; s <= n; ++s) {
    out.push_back(entry(s, command_for(s, bytes)));
    HardState hs{Ballot{1, NodeId{1}}, Slot{s}, true};
    save_sync(log, &hs, {out.back()});
  }
  return out;
}

// After a fatal error: every later call refuses, with the same status.
void check_refuses(LogStorage& log, Status expected) {
  CHECK(log.status() == expected);
  CHECK(!log.error().empty());
  std::vector<Entry> more = {entry(999, "more")};
  CHECK(log.save(nullptr, more) == expected);
  CHECK(log.sync() == expected);
  CHECK(log.compact(Slot{1000}) == expected);
}

}  // namespace

TEST_CASE("a failed write is fatal, and a restart keeps everything synced before it") {
  TestLog t;
  auto log = t.open_ok();
  std::vector<Entry> synced = fill(*log, 10);
  t.fs.fail(FsOp::write, EIO);
  REQUIRE(log->save(nullptr, std::vector<Entry>{entry(11, "lost")}) == Status::ok);
  CHECK(log->sync() == Status::storage_error);
  CHECK(log->error().find("injected fault: write") != std::string::npos);
  check_refuses(*log, Status::storage_error);
  log.reset();
  t.fs.crash();
  auto again = t.open_ok();
  CHECK(again->entries() == synced);
}

TEST_CASE("a failed fdatasync is fatal and never retried") {
  TestLog t;
  auto log = t.open_ok();
  std::vector<Entry> synced = fill(*log, 5);
  t.fs.fail(FsOp::sync_data, EIO);
  REQUIRE(log->save(nullptr, std::vector<Entry>{entry(6, "unknown fate")}) == Status::ok);
  CHECK(log->sync() == Status::storage_error);
  std::uint64_t syncs = t.fs.calls(FsOp::sync_data);
  check_refuses(*log, Status::storage_error);
  CHECK(t.fs.calls(FsOp::sync_data) == syncs);  // a retry could "succeed" over lost pages
  log.reset();
  t.fs.crash();
  CHECK(t.open_ok()->entries() == synced);
}

TEST_CASE("short writes are completed, whatever their size") {
  for (std::size_t max : {1, 7, 64, 333}) {
    TestLog t(4096);
    t.fs.set_write_bytes_max(max);
    std::vector<Entry> synced;
    {
      auto log = t.open_ok();
      synced = fill(*log, 80, 70);
    }
    t.fs.crash();
    CHECK(t.open_ok()->entries() == synced);
  }
}

TEST_CASE("a full disk is no_space, loses nothing synced, and the log resumes after a restart") {
  // No preallocation: appends grow the file, so the disk fills mid-write.
  TestLog t(1u << 16, Preallocation::none);
  auto log = t.open_ok();
  std::vector<Entry> synced = fill(*log, 20);
  t.fs.set_capacity_bytes(t.fs.used_bytes() + 100);
  std::vector<Entry> batch;
  for (std::uint64_t s = 21; s <= 23; ++s) batch.push_back(entry(s, command_for(s, 1000)));
  REQUIRE(log->save(nullptr, batch) == Status::ok);
  CHECK(log->sync() == Status::no_space);  // 100 bytes went in, then ENOSPC
  CHECK(log->error().find("No space") != std::string::npos);
  check_refuses(*log, Status::no_space);
  log.reset();
  t.fs.crash(1u << 20);  // the partial write reached the disk
  {
    // Still full: recovery needs no space (it cuts the torn 100 bytes).
    LogStorage::OpenResult r = t.open();
    REQUIRE(r.ok());
    CHECK(r.storage->entries() == synced);
    CHECK(!r.report.truncated_file.empty());
  }
  t.fs.set_capacity_bytes(0);  // space freed
  auto again = t.open_ok();
  REQUIRE(again->save(nullptr, batch) == Status::ok);
  REQUIRE(again->sync() == Status::ok);
  std::vector<Entry> all = synced;
  all.insert(all.end(), batch.begin(), batch.end());
  CHECK(again->entries() == all);
}

TEST_CASE("a disk too full for a new segment fails the roll with no_space") {
  TestLog t(8192);
  auto log = t.open_ok();
  std::vector<Entry> synced;
  // Fill segment 1, then leave no room for segment 2's preallocation.
  for (std::uint64_t s = 1; log->end().offset < 7000; ++s) {
    synced.push_back(entry(s, command_for(s, 100)));
    save_sync(*log, nullptr, {synced.back()});
  }
  t.fs.set_capacity_bytes(t.fs.used_bytes() + 1000);
  REQUIRE(log->save(nullptr, std::vector<Entry>{entry(900, std::string(2000, 'q'))}) == Status::ok);
  CHECK(log->sync() == Status::no_space);
  CHECK(log->error().find("fallocate") != std::string::npos);
  log.reset();
  t.fs.crash();
  t.fs.set_capacity_bytes(0);
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  CHECK(r.storage->entries() == synced);
}

TEST_CASE("an error creating the first segment fails open with the cause") {
  TestLog t;
  t.fs.fail(FsOp::sync_dir, EIO, 1);  // the parent's sync passes, the segment's fails
  LogStorage::OpenResult r = t.open();
  CHECK(r.status == Status::storage_error);
  CHECK(r.error.find("sync_dir") != std::string::npos);
  CHECK(r.storage == nullptr);
  t.fs.crash();
  CHECK(t.open_ok()->empty());
}

TEST_CASE("a read error during recovery fails open with storage_error") {
  TestLog t;
  {
    auto log = t.open_ok();
    fill(*log, 3);
  }
  t.fs.fail(FsOp::read, EIO);
  LogStorage::OpenResult r = t.open();
  CHECK(r.status == Status::storage_error);
  CHECK(r.error.find("read") != std::string::npos);
  CHECK(t.open().ok());
}

TEST_CASE("a crash keeping any prefix of an unsynced batch recovers the synced batches") {
  TestLog t;
  std::vector<Entry> synced;
  std::vector<Entry> unsynced = {entry(11, command_for(11, 300)), entry(12, command_for(12, 300))};
  std::uint64_t batch_bytes = 0;
  {
    auto log = t.open_ok();
    synced = fill(*log, 10);
    std::uint64_t from = log->end().offset;
    save_sync(*log, nullptr, unsynced);
    batch_bytes = log->end().offset - from;
  }
  for (std::uint64_t keep = 0; keep <= batch_bytes + 1; keep += 7) {
    TestLog u;
    {
      auto log = u.open_ok();
      fill(*log, 10);
      // A sync that "fails" after its write reached the page cache.
      u.fs.fail(FsOp::sync_data, EIO);
      REQUIRE(log->save(nullptr, unsynced) == Status::ok);
      REQUIRE(log->sync() == Status::storage_error);
    }
    u.fs.crash(keep);
    auto log = u.open_ok();
    std::vector<Entry> expected = synced;
    if (keep >= batch_bytes) expected.insert(expected.end(), unsynced.begin(), unsynced.end());
    INFO("kept " << keep << " of " << batch_bytes);
    CHECK(log->entries() == expected);
  }
}

TEST_CASE("a failed removal during compaction is fatal and loses nothing") {
  TestLog t(4096);
  auto log = t.open_ok();
  std::vector<Entry> synced = fill(*log, 100, 80);
  t.fs.fail(FsOp::remove, EIO, 1);  // the second removal fails
  CHECK(log->compact(Slot{90}) == Status::storage_error);
  check_refuses(*log, Status::storage_error);
  log.reset();
  t.fs.crash();
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  std::vector<Entry> kept = r.storage->entries();
  REQUIRE(!kept.empty());
  CHECK(kept.back() == synced.back());
  CHECK(kept.front().slot <= Slot{90});
  CHECK(r.storage->hard_state().commit == Slot{100});
}

TEST_CASE("a crash during a segment roll leaves a log that opens with everything synced") {
  for (FsOp op : {FsOp::allocate, FsOp::sync_data, FsOp::rename, FsOp::sync_dir}) {
    TestLog t(4096);
    std::vector<Entry> synced;
    {
      auto log = t.open_ok();
      for (std::uint64_t s = 1; log->end().segment_seq == 1; ++s) {
        if (log->end().offset > 3500) {
          t.fs.fail(op, EIO);
          REQUIRE(log->save(nullptr, std::vector<Entry>{entry(s, command_for(s, 900))}) ==
                  Status::ok);
          REQUIRE(log->sync() == Status::storage_error);
          break;
        }
        synced.push_back(entry(s, command_for(s, 100)));
        save_sync(*log, nullptr, {synced.back()});
      }
    }
    t.fs.crash();
    t.fs.clear_faults();
    LogStorage::OpenResult r = t.open();
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.storage->entries() == synced);
  }
}
