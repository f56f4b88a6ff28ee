// GroupLog: many groups' Storage in one segment log (docs/storage.md, "Many
// groups in one log"): round trips, group commit, torn tails, compaction, the
// straggler rewrite, corruption, and Replicas on it.
#include "synod/group_log.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <functional>

#include "log_test_util.h"
#include "record_format.h"
#include "synod/replica.h"

using namespace synod;
using namespace synod::test;

namespace {

// A GroupLog directory on the fault-injecting file system.
struct TestGroupLog {
  FaultFileSystem fs;
  std::string dir = "/groups";
  GroupLogOptions options;

  explicit TestGroupLog(std::uint64_t segment_bytes = 16u << 20) {
    options.log.file_system = &fs;
    options.log.segment_bytes = segment_bytes;
    options.log.preallocation = Preallocation::none;
  }
  GroupLog::OpenResult open() { return GroupLog::open(dir, options); }
  std::unique_ptr<GroupLog> open_ok() {
    GroupLog::OpenResult r = open();
    INFO(r.error);
    REQUIRE(r.status == Status::ok);
    return std::move(r.log);
  }
  std::string segment_path(std::uint64_t seq) const { return segment_path_in(dir, seq); }
};

Entry group_entry(std::uint64_t group, std::uint64_t slot, std::size_t bytes = 20) {
  return entry(slot, fmt::format("g{}-{}", group, command_for(slot, bytes)));
}

HardState hard_of(std::uint64_t group) {
  return HardState{Ballot{group + 1, NodeId{1}}, Slot{group % 3}, group % 2 == 0};
}

Snapshot snapshot_at(std::uint64_t slot, std::string data) {
  Snapshot s;
  s.meta.slot = Slot{slot};
  s.meta.ballot = Ballot{1, NodeId{1}};
  s.data = std::make_shared<const std::string>(std::move(data));
  return s;
}

void save_entries(GroupLog& log, std::uint64_t group, std::uint64_t from, std::uint64_t to,
                  std::size_t bytes = 20) {
  std::vector<Entry> es;
  for (std::uint64_t s = from; s <= to; ++s) es.push_back(group_entry(group, s, bytes));
  REQUIRE(log.save_ready(GroupId{group}, nullptr, Slot{}, nullptr, es) == Status::ok);
}

}  // namespace

TEST_CASE("group records carry the group id in the slot field and decode") {
  std::vector<std::byte> bytes;
  storage::append_group_record(bytes, storage::RecordType::group, GroupId{0xabcdef}, 9, false);
  storage::append_group_record(bytes, storage::RecordType::group_removed, GroupId{5}, 9, true);
  REQUIRE(bytes.size() == 2 * storage::kGroupRecordBytes);
  storage::DecodedRecord r;
  REQUIRE(storage::decode_record(bytes, &r) == storage::DecodeStatus::ok);
  CHECK(r.header.type == storage::RecordType::group);
  CHECK(r.header.slot == Slot{0xabcdef});
  CHECK(!r.header.batch_end());
  REQUIRE(storage::decode_record(std::span(bytes).subspan(r.record_bytes), &r) ==
          storage::DecodeStatus::ok);
  CHECK(r.header.type == storage::RecordType::group_removed);
  CHECK(r.header.slot == Slot{5});
  CHECK(r.header.batch_end());
}

TEST_CASE("a thousand groups round-trip through one log across a reopen") {
  TestGroupLog t;
  constexpr std::uint64_t kGroups = 1000;
  {
    auto log = t.open_ok();
    for (std::uint64_t g = 1; g <= kGroups; ++g) {
      HardState hs = hard_of(g);
      std::vector<Entry> es = {group_entry(g, 1), group_entry(g, 2), group_entry(g, 3)};
      REQUIRE(log->group(GroupId{g}).save(&hs, es) == Status::ok);
    }
    REQUIRE(log->sync() == Status::ok);
    CHECK(log->stats().log.segments == 1);  // one file for all groups
  }
  t.fs.crash();
  auto log = t.open_ok();
  REQUIRE(log->groups().size() == kGroups);
  for (std::uint64_t g = 1; g <= kGroups; ++g) {
    Storage& s = log->group(GroupId{g});
    INFO("group " << g);
    CHECK(!s.empty());
    CHECK(s.hard_state() == hard_of(g));
    CHECK(s.entries() ==
          std::vector<Entry>{group_entry(g, 1), group_entry(g, 2), group_entry(g, 3)});
  }
  CHECK(log->group(GroupId{kGroups + 1}).empty());  // created on first use, empty
}

TEST_CASE("one fdatasync per sync whatever the number of groups") {
  for (std::uint64_t groups : {1u, 100u, 2000u}) {
    TestGroupLog t;
    auto log = t.open_ok();
    for (int round = 0; round < 3; ++round) {
      for (std::uint64_t g = 1; g <= groups; ++g) {
        HardState hs = hard_of(g);
        std::vector<Entry> es = {group_entry(g, std::uint64_t(round) + 1)};
        REQUIRE(log->save_ready(GroupId{g}, nullptr, Slot{}, &hs, es) == Status::ok);
      }
      std::uint64_t before = t.fs.calls(FsOp::sync_data);
      REQUIRE(log->sync() == Status::ok);
      INFO(groups << " groups");
      CHECK(t.fs.calls(FsOp::sync_data) - before == 1);
    }
    CHECK(log->stats().log.syncs == 3);
  }
}

TEST_CASE("per-group snapshots and hard states survive a reopen; a removed group is gone") {
  TestGroupLog t;
  {
    auto log = t.open_ok();
    for (std::uint64_t g = 1; g <= 3; ++g) {
      save_entries(*log, g, 1, 10);
      HardState hs = hard_of(g);
      REQUIRE(log->group(GroupId{g}).save(&hs, {}) == Status::ok);
    }
    REQUIRE(log->sync() == Status::ok);
    // Group 1 snapshots at 5 keeping 6..; group 2 twice (the first file goes).
    Snapshot s1 = snapshot_at(5, "state of one");
    REQUIRE(log->group(GroupId{1}).save_snapshot(s1, Slot{6}) == Status::ok);
    REQUIRE(log->group(GroupId{2}).save_snapshot(snapshot_at(3, "two@3"), Slot{4}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    REQUIRE(log->group(GroupId{2}).save_snapshot(snapshot_at(8, "two@8"), Slot{9}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    CHECK(log->group(GroupId{1}).entries().size() == 5);
    REQUIRE(log->save_ready(GroupId{3}, &s1, Slot{6}, nullptr, {}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    REQUIRE(log->remove_group(GroupId{3}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
    CHECK(log->stats().groups_removed == 1);
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(log->groups() == std::vector<GroupId>{GroupId{1}, GroupId{2}});
  Storage& one = log->group(GroupId{1});
  CHECK(*one.snapshot().data == "state of one");
  CHECK(one.snapshot().meta.slot == Slot{5});
  REQUIRE(one.entries().size() == 5);
  CHECK(one.entries().front() == group_entry(1, 6));
  CHECK(one.hard_state() == hard_of(1));
  Storage& two = log->group(GroupId{2});
  CHECK(*two.snapshot().data == "two@8");
  CHECK(two.entries() == std::vector<Entry>{group_entry(2, 9), group_entry(2, 10)});
  CHECK(t.fs.exists(t.dir + "/snapshots/0000000000000002/snapshot-00000000000000000008.snap"));
  CHECK(!t.fs.exists(t.dir + "/snapshots/0000000000000002/snapshot-00000000000000000003.snap"));
  std::vector<std::string> three;
  REQUIRE(t.fs.list(t.dir + "/snapshots/0000000000000003", &three).ok());
  for (const std::string& name : three) MESSAGE(name);
  CHECK(three.empty());  // the removed group's snapshot file went
  CHECK(log->group(GroupId{3}).empty());
}

TEST_CASE("a torn batch is cut for every group alike") {
  constexpr std::uint64_t kGroups = 20;
  std::uint64_t batch_bytes = 0;
  {
    TestGroupLog t;
    auto log = t.open_ok();
    for (std::uint64_t g = 1; g <= kGroups; ++g) save_entries(*log, g, 1, 2);
    REQUIRE(log->sync() == Status::ok);
    std::uint64_t from = log->stats().log.bytes_written;
    for (std::uint64_t g = 1; g <= kGroups; ++g) save_entries(*log, g, 3, 3);
    REQUIRE(log->sync() == Status::ok);
    batch_bytes = log->stats().log.bytes_written - from;
  }
  for (std::uint64_t keep = 0; keep <= batch_bytes + 1; keep += 97) {
    TestGroupLog t;
    {
      auto log = t.open_ok();
      for (std::uint64_t g = 1; g <= kGroups; ++g) save_entries(*log, g, 1, 2);
      REQUIRE(log->sync() == Status::ok);
      t.fs.fail(FsOp::sync_data, EIO);
      for (std::uint64_t g = 1; g <= kGroups; ++g) save_entries(*log, g, 3, 3);
      REQUIRE(log->sync() == Status::storage_error);
      CHECK(log->save_ready(GroupId{1}, nullptr, Slot{}, nullptr, {}) == Status::storage_error);
    }
    t.fs.crash(keep);
    GroupLog::OpenResult r = t.open();
    REQUIRE(r.ok());
    std::size_t expected = keep >= batch_bytes ? 3 : 2;
    INFO("kept " << keep << " of " << batch_bytes);
    for (std::uint64_t g = 1; g <= kGroups; ++g)
      CHECK(r.log->group(GroupId{g}).entries().size() == expected);
    if (keep > 0 && keep < batch_bytes) CHECK(!r.report.truncated_file.empty());
  }
}

TEST_CASE("a segment is freed only once every group holding entries in it is past them") {
  TestGroupLog t(4096);
  auto log = t.open_ok();
  // Groups 1 and 2 interleave entries over several segments.
  for (std::uint64_t s = 1; s <= 60; ++s) {
    save_entries(*log, 1, s, s, 60);
    save_entries(*log, 2, s, s, 60);
    REQUIRE(log->sync() == Status::ok);
  }
  std::size_t segments = log->stats().log.segments;
  REQUIRE(segments >= 4);
  REQUIRE(t.fs.exists(t.segment_path(1)));
  // Group 1 compacts everything: group 2 still pins every segment.
  REQUIRE(log->group(GroupId{1}).save_snapshot(snapshot_at(60, "one"), Slot{61}) == Status::ok);
  REQUIRE(log->sync() == Status::ok);
  CHECK(t.fs.exists(t.segment_path(1)));
  CHECK(log->stats().log.segments_removed == 0);
  CHECK(log->stats().compactions_blocked > 0);
  // Group 2 compacts below 30: the segments holding only slots below go.
  REQUIRE(log->group(GroupId{2}).save_snapshot(snapshot_at(29, "two"), Slot{30}) == Status::ok);
  REQUIRE(log->sync() == Status::ok);
  CHECK(!t.fs.exists(t.segment_path(1)));
  CHECK(log->stats().log.segments_removed > 0);
  CHECK(log->stats().straggler_drops == 0);
  std::vector<Entry> two = log->group(GroupId{2}).entries();
  log.reset();
  t.fs.crash();
  auto again = t.open_ok();
  CHECK(again->group(GroupId{2}).entries() == two);
  CHECK(two.front() == group_entry(2, 30, 60));
  CHECK(again->group(GroupId{1}).entries().empty());
  CHECK(*again->group(GroupId{1}).snapshot().data == "one");
}

TEST_CASE("a straggler's live entries are rewritten at the head and its segments freed") {
  TestGroupLog t(4096);
  t.options.straggler_segments = 2;
  t.options.straggler_groups = 1;
  auto log = t.open_ok();
  // The idle group writes once, early, and never snapshots.
  HardState idle_hs = hard_of(7);
  std::vector<Entry> idle = {group_entry(7, 1, 100), group_entry(7, 2, 100)};
  REQUIRE(log->save_ready(GroupId{7}, nullptr, Slot{}, &idle_hs, idle) == Status::ok);
  REQUIRE(log->sync() == Status::ok);
  // A busy group writes and snapshots as it goes.
  std::size_t most_segments = 0;
  for (std::uint64_t s = 1; s <= 400; ++s) {
    save_entries(*log, 1, s, s, 100);
    if (s % 10 == 0)
      REQUIRE(log->group(GroupId{1}).save_snapshot(snapshot_at(s, "busy"), Slot{s + 1}) ==
              Status::ok);
    REQUIRE(log->sync() == Status::ok);
    most_segments = std::max(most_segments, log->stats().log.segments);
  }
  GroupLogStats st = log->stats();
  CHECK(st.log.segments_created > 10);
  CHECK(most_segments <= 4);  // bounded: straggler_segments + the active + one rolling
  CHECK(st.straggler_drops > 0);
  CHECK(st.entries_rewritten >= 2);
  CHECK(st.records_rewritten > 0);
  CHECK(!t.fs.exists(t.segment_path(1)));
  log.reset();
  t.fs.crash();
  auto again = t.open_ok();
  CHECK(again->group(GroupId{7}).entries() == idle);
  CHECK(again->group(GroupId{7}).hard_state() == idle_hs);
  CHECK(again->group(GroupId{1}).snapshot().meta.slot == Slot{400});
}

namespace {

// The straggler workload: group 7 writes two entries once; group 1 writes an
// entry per sync and snapshots every 10. Stops at the first failed sync, or
// when stop() says so after a good one. Returns the last slot synced.
std::uint64_t straggler_workload(GroupLog& log, const std::vector<Entry>& idle,
                                 const std::function<bool()>& stop) {
  REQUIRE(log.save_ready(GroupId{7}, nullptr, Slot{}, nullptr, idle) == Status::ok);
  REQUIRE(log.sync() == Status::ok);
  std::uint64_t last_synced = 0;
  for (std::uint64_t s = 1; s <= 400; ++s) {
    save_entries(log, 1, s, s, 100);
    if (s % 10 == 0)
      REQUIRE(log.group(GroupId{1}).save_snapshot(snapshot_at(s, "busy"), Slot{s + 1}) ==
              Status::ok);
    if (log.sync() != Status::ok || stop()) break;
    last_synced = s;
  }
  return last_synced;
}

}  // namespace

TEST_CASE("a crash between a straggler rewrite and the segment's removal loses nothing") {
  std::vector<Entry> idle = {group_entry(7, 1, 100), group_entry(7, 2, 100)};
  // A dry run finds how many removals (snapshot files) precede the first
  // segment removal.
  std::uint64_t removals_before = 0;
  {
    TestGroupLog dry(4096);
    dry.options.straggler_segments = 2;
    dry.options.straggler_groups = 1;
    auto log = dry.open_ok();
    std::uint64_t removes = 0;
    straggler_workload(*log, idle, [&] {
      if (log->stats().log.segments_removed > 0) return true;
      removes = dry.fs.calls(FsOp::remove);
      return false;
    });
    REQUIRE(log->stats().straggler_drops > 0);
    removals_before = removes;
  }
  TestGroupLog t(4096);
  t.options.straggler_segments = 2;
  t.options.straggler_groups = 1;
  std::uint64_t last_synced = 0;
  {
    auto log = t.open_ok();
    t.fs.fail(FsOp::remove, EIO, removals_before);  // the first segment removal fails
    last_synced = straggler_workload(*log, idle, [] { return false; });
    REQUIRE(log->status() == Status::storage_error);  // fatal, as LogStorage
    CHECK(log->stats().entries_rewritten >= 2);
    CHECK(log->sync() == Status::storage_error);
  }
  t.fs.crash();
  auto log = t.open_ok();
  CHECK(log->group(GroupId{7}).entries() == idle);
  // Every batch before the failed removal was durable, rewrite included.
  std::vector<Entry> busy = log->group(GroupId{1}).entries();
  REQUIRE(!busy.empty());
  CHECK(busy.back().slot.value > last_synced);
  CHECK(busy.front().slot == log->group(GroupId{1}).snapshot().meta.slot.next());
}

TEST_CASE("a group with much live data is not copied around as a straggler") {
  TestGroupLog t(4096);
  t.options.straggler_segments = 2;
  t.options.straggler_groups = 1;
  auto log = t.open_ok();
  // One group, never snapshotting, fills many segments: every one is live.
  for (std::uint64_t s = 1; s <= 300; ++s) {
    save_entries(*log, 1, s, s, 100);
    REQUIRE(log->sync() == Status::ok);
  }
  GroupLogStats st = log->stats();
  CHECK(st.log.segments > 5);
  CHECK(st.log.segments_removed == 0);
  CHECK(st.straggler_drops == 0);
  CHECK(st.entries_rewritten == 0);
  CHECK(st.compactions_blocked > 0);
  CHECK(log->group(GroupId{1}).entries().size() == 300);
}

TEST_CASE("corruption before the tail is refused with the file and offset") {
  TestGroupLog t;
  {
    auto log = t.open_ok();
    for (std::uint64_t g = 1; g <= 5; ++g) save_entries(*log, g, 1, 3);
    REQUIRE(log->sync() == Status::ok);
    for (std::uint64_t g = 1; g <= 5; ++g) save_entries(*log, g, 4, 4);
    REQUIRE(log->sync() == Status::ok);
  }
  std::string path = t.segment_path(1);
  std::vector<std::byte> image = t.fs.contents(path);
  image[200] ^= std::byte{0x40};  // inside the first batch; a later batch follows
  t.fs.set_contents(path, image);
  GroupLog::OpenResult r = t.open();
  REQUIRE(r.status == Status::corrupt);
  CHECK(r.error.find(path) != std::string::npos);
  CHECK(r.error.find("offset") != std::string::npos);
}

TEST_CASE("LogStorage and GroupLog refuse each other's directories") {
  TestGroupLog t;
  {
    auto log = t.open_ok();
    save_entries(*log, 1, 1, 1);
    REQUIRE(log->sync() == Status::ok);
  }
  LogOptions plain = t.options.log;
  LogStorage::OpenResult as_plain = LogStorage::open(t.dir, plain);
  CHECK(as_plain.status == Status::corrupt);
  CHECK(as_plain.error.find("group record") != std::string::npos);
  {
    auto single = LogStorage::open("/single", plain);
    REQUIRE(single.ok());
    save_sync(*single.storage, nullptr, {entry(1, "x")});
  }
  GroupLog::OpenResult as_group = GroupLog::open("/single", t.options);
  CHECK(as_group.status == Status::corrupt);
  CHECK(as_group.error.find("outside any group") != std::string::npos);
}

namespace {

Config single() {
  Config c;
  c.id = NodeId{1};
  c.voters = {NodeId{1}};
  return c;
}

// Each group's Ready loop staging in the one log; the host syncs once.
void drain_all(std::vector<std::unique_ptr<Replica>>& rs, GroupLog& log) {
  for (bool more = true; more;) {
    more = false;
    std::vector<Ready> readys(rs.size());
    std::vector<bool> got(rs.size(), false);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      if (!rs[i]->has_ready()) continue;
      readys[i] = rs[i]->ready();
      got[i] = true;
      const Ready& rd = readys[i];
      REQUIRE(log.save_ready(GroupId{i + 1}, rd.snapshot ? &*rd.snapshot : nullptr, rd.keep_from,
                             rd.hard_state ? &*rd.hard_state : nullptr, rd.entries) == Status::ok);
      more = true;
    }
    if (!more) break;
    REQUIRE(log.sync() == Status::ok);  // one sync for every group's Ready
    for (std::size_t i = 0; i < rs.size(); ++i)
      if (got[i]) rs[i]->advance(readys[i]);
  }
}

}  // namespace

TEST_CASE("a replica per group commits over GroupLog storages and recovers") {
  TestGroupLog t(8192);
  constexpr std::size_t kGroups = 5;
  std::vector<ReplicaInfo> before;
  {
    auto log = t.open_ok();
    std::vector<std::unique_ptr<Replica>> rs;
    for (std::size_t i = 0; i < kGroups; ++i)
      rs.push_back(std::make_unique<Replica>(single(), log->group(GroupId{i + 1})));
    for (int tick = 0; tick < 25; ++tick) {
      for (auto& r : rs) r->tick();
      drain_all(rs, *log);
    }
    for (auto& r : rs) REQUIRE(r->info().role == Role::leader);
    for (int n = 0; n < 20; ++n) {
      for (std::size_t i = 0; i < kGroups; ++i)
        REQUIRE(rs[i]->propose(fmt::format("g{} cmd {}", i, n)).ok());
      drain_all(rs, *log);
    }
    for (auto& r : rs) {
      before.push_back(r->info());
      CHECK(r->info().commit.value >= 20);
    }
  }
  t.fs.crash();
  auto log = t.open_ok();
  for (std::size_t i = 0; i < kGroups; ++i) {
    Replica again(single(), log->group(GroupId{i + 1}));
    INFO("group " << i + 1);
    CHECK(again.info().promised == before[i].promised);
    CHECK(again.info().last_slot == before[i].last_slot);
    std::vector<Entry> es = log->group(GroupId{i + 1}).entries();
    REQUIRE(!es.empty());
    CHECK(es.back().value.commands().back() == fmt::format("g{} cmd 19", i));
  }
}
