// A crash at every write and sync of a snapshot's save finds the old state
// or the new one on reopen, never a mix: the snapshot record is the switch.
#include <doctest/doctest.h>

#include <cerrno>

#include "snapshot_test_util.h"

using namespace synod;
using namespace synod::test;

namespace {

// What a reopen may find: everything before the snapshot's Ready, or
// everything after it.
struct State {
  Snapshot snapshot;
  std::vector<Entry> entries;
  HardState hard;
};

const HardState kOldHard{Ballot{1, NodeId{1}}, Slot{40}, true};
const HardState kNewHard{Ballot{2, NodeId{1}}, Slot{45}, true};

State old_state() { return {snapshot_at(10, 3000), entries_between(6, 40, 100), kOldHard}; }
State new_state() { return {snapshot_at(30, 5000), entries_between(21, 45, 100), kNewHard}; }

// A log holding the old state over several segments, then the fault armed.
std::unique_ptr<LogStorage> prepare(TestLog& t) {
  auto log = t.open_ok();
  for (const Entry& e : entries_between(1, 40, 100)) save_sync(*log, &kOldHard, {e});
  State old = old_state();
  REQUIRE(log->save_snapshot(old.snapshot, Slot{6}) == Status::ok);
  REQUIRE(log->sync() == Status::ok);
  return log;
}

// The new Ready: a snapshot, then entries and a hard state, in one save.
Status save_new(LogStorage& log) {
  State next = new_state();
  std::vector<Entry> fresh = entries_between(41, 45, 100);
  REQUIRE(log.save_ready(&next.snapshot, Slot{21}, &kNewHard, fresh) == Status::ok);
  return log.sync();
}

bool matches(LogStorage& log, const State& s) {
  return same_snapshot(log.snapshot(), s.snapshot) && log.entries() == s.entries &&
         log.hard_state() == s.hard;
}

constexpr FsOp kOps[] = {FsOp::open,     FsOp::write,    FsOp::sync_data, FsOp::rename,
                         FsOp::sync_dir, FsOp::truncate, FsOp::allocate,  FsOp::remove};
const char* name_of(FsOp op) {
  switch (op) {
    case FsOp::open:
      return "open";
    case FsOp::write:
      return "write";
    case FsOp::sync_data:
      return "sync_data";
    case FsOp::rename:
      return "rename";
    case FsOp::sync_dir:
      return "sync_dir";
    case FsOp::truncate:
      return "truncate";
    case FsOp::allocate:
      return "allocate";
    case FsOp::remove:
      return "remove";
    default:
      return "?";
  }
}

}  // namespace

TEST_CASE("a crash at any write or sync of a snapshot's save recovers the old or the new state") {
  // A dry run counts the calls of each kind the save makes (the snapshot
  // file, a roll, the batch, the old file's removal, the compaction after).
  std::uint64_t calls[std::size(kOps)] = {};
  {
    TestLog t(4096);
    auto log = prepare(t);
    std::uint64_t before[std::size(kOps)];
    for (std::size_t i = 0; i < std::size(kOps); ++i) before[i] = t.fs.calls(kOps[i]);
    REQUIRE(save_new(*log) == Status::ok);
    for (std::size_t i = 0; i < std::size(kOps); ++i) calls[i] = t.fs.calls(kOps[i]) - before[i];
    REQUIRE(calls[2] >= 3);  // the file, the batch, the compaction batch
    REQUIRE(calls[7] >= 2);  // the old snapshot file and at least one segment
  }
  int olds = 0, news = 0;
  for (std::size_t i = 0; i < std::size(kOps); ++i) {
    // skip == calls[i]: no fault, a crash after everything.
    for (std::uint64_t skip = 0; skip <= calls[i]; ++skip) {
      for (std::uint64_t keep : {std::uint64_t{0}, std::uint64_t{150}, std::uint64_t{1} << 30}) {
        CAPTURE(name_of(kOps[i]));
        CAPTURE(skip);
        CAPTURE(keep);
        TestLog t(4096);
        auto log = prepare(t);
        t.fs.fail(kOps[i], EIO, skip);
        Status st = save_new(*log);
        log.reset();
        t.fs.clear_faults();
        t.fs.crash(keep);
        LogStorage::OpenResult r = t.open();
        INFO(r.error);
        REQUIRE(r.ok());
        bool is_old = matches(*r.storage, old_state());
        bool is_new = matches(*r.storage, new_state());
        CHECK(is_old != is_new);
        if (st == Status::ok) CHECK(is_new);  // acknowledged: must survive
        olds += is_old;
        news += is_new;
        // Only the snapshot in effect has a file after the open.
        CHECK(snapshot_files(t.fs, t.dir) == std::vector<std::string>{storage::snapshot_file_name(
                                                 r.storage->snapshot().meta.slot)});
        // And the log goes on.
        save_sync(*r.storage, nullptr, {entry(46, "next")});
      }
    }
  }
  MESSAGE(olds << " crash points recovered the old state, " << news << " the new one");
  CHECK(olds > 0);
  CHECK(news > 0);
}
