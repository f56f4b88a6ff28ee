// LogOptions::recycle_segments: a segment compaction drops becomes the spare
// for a later roll (renamed, not removed), its header says recycled, and
// recovery reads past the older segment's stale records behind its end:
// neither damage nor part of the log, while a synced batch damaged in such
// a segment is still corruption and a torn one is still cut.
#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "log_test_util.h"
#include "record_format.h"
#include "segment_log.h"
#include "segment_scan.h"
#include "segment_spare.h"
#include "snapshot_test_util.h"

using namespace synod;
using namespace synod::test;
using storage::SegmentSpare;

namespace {

constexpr std::uint64_t kSegment = 64u << 10;

std::vector<std::string> names_in(FaultFileSystem& fs, const std::string& dir) {
  std::vector<std::string> names;
  REQUIRE(fs.list(dir, &names).ok());
  std::sort(names.begin(), names.end());
  return names;
}

// The header of the segment file at `path`.
storage::SegmentHeader header_of(FaultFileSystem& fs, const std::string& path) {
  std::vector<std::byte> bytes = fs.contents(path);
  storage::DecodedRecord r;
  REQUIRE(storage::decode_record(bytes, &r) == storage::DecodeStatus::ok);
  REQUIRE(r.header.type == storage::RecordType::segment_header);
  return storage::segment_header_of(r);
}

// A file of `bytes` non-zero bytes, durable, as an old segment would be.
void put_file(FaultFileSystem& fs, const std::string& path, std::size_t bytes) {
  fs.set_contents(path, std::vector<std::byte>(bytes, std::byte{0x5a}));
}

struct RecyclingLog : TestLog {
  RecyclingLog() : TestLog(kSegment, Preallocation::write_zeros) {
    options.recycle_segments = true;
  }
};

// Fills a recycling log until `segments` segments were created, compacting
// whenever more than three exist, so that dropped segments come back as
// spares. Returns the entries kept.
std::vector<Entry> churn(LogStorage& log, std::uint64_t segments, std::vector<Entry>& all,
                         std::uint64_t* slot) {
  while (log.stats().segments_created < segments) {
    ++*slot;
    all.push_back(entry(*slot, command_for(*slot, 700)));
    save_sync(log, nullptr, {all.back()});
    if (log.stats().segments > 3) {
      REQUIRE(log.compact(Slot{*slot - 20}) == Status::ok);
    }
    // Lets the spare thread keep up (zeroing 64 KiB in memory is quick).
    if (log.end().offset < 1024) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return log.entries();
}

}  // namespace

TEST_CASE("SegmentSpare::recycle: a whole segment's file becomes a ready spare by a rename") {
  FaultFileSystem fs;
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  SegmentSpare spare(fs, kSegment);
  put_file(fs, "/d/0000000000000003.log", kSegment);
  const std::uint64_t dir_syncs = fs.calls(FsOp::sync_dir);
  REQUIRE(spare.recycle("/d/0000000000000003.log", 3));
  CHECK_FALSE(fs.exists("/d/0000000000000003.log"));
  CHECK(fs.exists("/d/" + storage::recycled_file_name(3)));
  // The rename is durable before the file can be written as another segment.
  CHECK(fs.calls(FsOp::sync_dir) == dir_syncs + 1);
  CHECK(fs.calls(FsOp::remove) == 0);
  CHECK(spare.ready());
  CHECK(spare.counters().recycled == 1);
  // Nothing to zero while a recycled spare is ready.
  spare.prepare("/d/" + storage::spare_file_name(9));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(fs.exists("/d/" + storage::spare_file_name(9)));
  std::string path;
  bool recycled = false;
  std::unique_ptr<File> file = spare.take(&path, &recycled);
  REQUIRE(file != nullptr);
  CHECK(recycled);
  CHECK(path == "/d/" + storage::recycled_file_name(3));
  CHECK(spare.counters().taken == 1);
  // Its bytes are the old segment's, untouched: no zeros were written.
  CHECK(fs.contents(path) == std::vector<std::byte>(kSegment, std::byte{0x5a}));
}

TEST_CASE("SegmentSpare::recycle refuses a file of another size, and more than kReadyMax spares") {
  FaultFileSystem fs;
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  SegmentSpare spare(fs, kSegment);
  // A segment shorter than the segment size (a log with another
  // segment_bytes before): left where it is, for the caller to remove.
  put_file(fs, "/d/0000000000000001.log", kSegment / 2);
  CHECK_FALSE(spare.recycle("/d/0000000000000001.log", 1));
  CHECK(fs.exists("/d/0000000000000001.log"));
  // Nor a longer one (another segment_bytes, or a batch larger than a
  // segment): it may hold older bytes past segment_bytes.
  put_file(fs, "/d/0000000000000001.log", kSegment + 4096);
  CHECK_FALSE(spare.recycle("/d/0000000000000001.log", 1));
  CHECK(fs.exists("/d/0000000000000001.log"));
  for (std::uint64_t seq = 2; seq < 2 + SegmentSpare::kReadyMax; ++seq) {
    put_file(fs, segment_path_in("/d", seq), kSegment);
    CHECK(spare.recycle(segment_path_in("/d", seq), seq));
  }
  put_file(fs, segment_path_in("/d", 9), kSegment);
  CHECK_FALSE(spare.recycle(segment_path_in("/d", 9), 9));
  CHECK(fs.exists(segment_path_in("/d", 9)));
  CHECK(spare.counters().recycled == SegmentSpare::kReadyMax);
  // Taken oldest first.
  std::string path;
  bool recycled = false;
  REQUIRE(spare.take(&path, &recycled) != nullptr);
  CHECK(path == "/d/" + storage::recycled_file_name(2));
  CHECK(spare.recycle(segment_path_in("/d", 9), 9));
}

namespace {

// A spare being zeroed for segment 8 (paced over an hour: the first chunk
// goes at once, the rest would wait), and segment 5's file recycled beside
// it.
struct ZeroingBesideRecycled {
  static constexpr std::uint64_t kBytes = 4u << 20;
  FaultFileSystem fs;
  SegmentSpare spare{fs, kBytes};
  const std::string zeroing = "/d/" + storage::spare_file_name(8);

  ZeroingBesideRecycled() {
    bool created = false;
    REQUIRE(fs.make_dir("/d", &created).ok());
    spare.prepare(zeroing, std::chrono::hours(1));
    REQUIRE(eventually([&] { return fs.exists(zeroing) && !fs.contents(zeroing).empty(); }));
    put_file(fs, segment_path_in("/d", 5), kBytes);
    REQUIRE(spare.recycle(segment_path_in("/d", 5), 5));
  }
};

}  // namespace

TEST_CASE_FIXTURE(
    ZeroingBesideRecycled,
    "SegmentSpare::recycle beside a zeroing in progress: both serve rolls, no third") {
  // The zeroing counts towards kReadyMax: a second recycled file is refused.
  put_file(fs, segment_path_in("/d", 6), kBytes);
  CHECK_FALSE(spare.recycle(segment_path_in("/d", 6), 6));
  CHECK(fs.exists(segment_path_in("/d", 6)));
  std::string path;
  bool recycled = false;
  REQUIRE(spare.take(&path, &recycled) != nullptr);
  CHECK(recycled);
  CHECK(path == "/d/" + storage::recycled_file_name(5));
  // The zeroing was not given up: a roll that finds it not ready ends its
  // pacing, and it serves the roll after.
  CHECK(spare.take(&path, &recycled) == nullptr);
  REQUIRE(eventually([&] { return spare.ready(); }));
  REQUIRE(spare.take(&path, &recycled) != nullptr);
  CHECK_FALSE(recycled);
  CHECK(path == zeroing);
  CHECK(fs.contents(zeroing) == std::vector<std::byte>(kBytes));
}

TEST_CASE_FIXTURE(
    ZeroingBesideRecycled,
    "SegmentSpare::recycle of the segment a spare is being zeroed for keeps both files") {
  // Segment 8 dropped (and recycled) while the spare zeroed under segment
  // 8's name waits for a roll: the names differ, so neither file replaces
  // the other, and each serves a roll with its own bytes.
  std::string path;
  bool recycled = false;
  REQUIRE(spare.take(&path, &recycled) != nullptr);  // the roll to 8 takes segment 5's file
  put_file(fs, segment_path_in("/d", 8), kBytes);
  REQUIRE(spare.recycle(segment_path_in("/d", 8), 8));
  CHECK(fs.exists(zeroing));
  CHECK(fs.exists("/d/" + storage::recycled_file_name(8)));
  std::unique_ptr<File> first = spare.take(&path, &recycled);
  REQUIRE(first != nullptr);
  CHECK(recycled);
  CHECK(path == "/d/" + storage::recycled_file_name(8));
  CHECK(fs.contents(path) == std::vector<std::byte>(kBytes, std::byte{0x5a}));
  CHECK(spare.take(&path, &recycled) == nullptr);  // ends the zeroing's pacing
  REQUIRE(eventually([&] { return spare.ready(); }));
  REQUIRE(spare.take(&path, &recycled) != nullptr);
  CHECK_FALSE(recycled);
  CHECK(path == zeroing);
  CHECK(fs.contents(zeroing) == std::vector<std::byte>(kBytes));
  CHECK(storage::is_spare_file_name(storage::spare_file_name(8)));
  CHECK(storage::is_spare_file_name(storage::recycled_file_name(8)));
  CHECK_FALSE(storage::is_spare_file_name("0000000000000008.log"));
  CHECK_FALSE(storage::is_spare_file_name("0000000000000008.other.tmp"));
}

TEST_CASE("scan: a recycled segment's chain ends at the first stale record") {
  std::vector<std::byte> bytes;
  storage::append_segment_header(bytes, storage::SegmentHeader{7, kSegment, false, true}, 100);
  storage::append_entry(bytes, entry(50, "ours"), 101, true);
  const std::uint64_t end = bytes.size();
  // The older segment's records, right behind (a batch that ended on a page
  // boundary leaves no padding between).
  storage::append_entry(bytes, entry(3, "stale"), 40, false);
  storage::append_entry(bytes, entry(4, "stale too"), 40, true);
  storage::SegmentScan scan = storage::scan_segment(bytes);
  CHECK(scan.chain.size() == 2);
  CHECK(scan.chain_end == end);
  CHECK(scan.stale_below == 100);
  CHECK(scan.damage == storage::DecodeStatus::stale);
  CHECK_FALSE(scan.damaged);
  CHECK(scan.beyond.empty());

  // A record of one of its own batches past the stale ones: damage.
  storage::append_entry(bytes, entry(51, "after a hole"), 103, true);
  scan = storage::scan_segment(bytes);
  CHECK(scan.chain.size() == 2);
  CHECK(scan.damaged);
  REQUIRE(scan.beyond.size() == 1);
  CHECK(scan.beyond[0].batch == 103);

  // The same bytes under a version 1 header: no record is stale, the chain
  // runs on (and recovery's walk calls the batch order corruption).
  std::vector<std::byte> plain;
  storage::append_segment_header(plain, storage::SegmentHeader{7, kSegment, true}, 100);
  plain.insert(plain.end(), bytes.begin() + static_cast<std::ptrdiff_t>(plain.size()), bytes.end());
  scan = storage::scan_segment(plain);
  CHECK(scan.stale_below == 0);
  CHECK(scan.chain.size() == 5);
}

TEST_CASE("scan: past a recycled segment's end, only zeros may lie before the pad boundary") {
  std::vector<std::byte> bytes;
  storage::append_segment_header(bytes, storage::SegmentHeader{7, kSegment, false, true}, 100);
  storage::append_entry(bytes, entry(50, "ours"), 101, true);
  const std::uint64_t end = bytes.size();
  REQUIRE(end % storage::kWritePadBytes != 0);
  // A clean end: the last write's zeros to the boundary, then stale bytes
  // (not even whole records: an older layout's middle).
  std::vector<std::byte> clean = bytes;
  clean.resize(storage::kWritePadBytes, std::byte{0});
  clean.resize(3 * storage::kWritePadBytes, std::byte{0x77});
  storage::SegmentScan scan = storage::scan_segment(clean);
  CHECK(scan.chain_end == end);
  CHECK_FALSE(scan.damaged);
  // Something written after the last batch, before the boundary: a torn
  // batch's start, or damage to the last one. Damage, whose batch recovery
  // then cuts and reports.
  std::vector<std::byte> torn = clean;
  torn[end + 30] = std::byte{0x01};
  scan = storage::scan_segment(torn);
  CHECK(scan.chain_end == end);
  CHECK(scan.damaged);
  CHECK(scan.beyond.empty());
}

TEST_CASE("recycle_segments needs write_zeros") {
  LogOptions o;
  o.recycle_segments = true;
  std::string why;
  CHECK(o.validate(&why) == Status::invalid_config);
  CHECK(why.find("write_zeros") != std::string::npos);
  o.preallocation = Preallocation::write_zeros;
  CHECK(o.validate(&why) == Status::ok);
}

TEST_CASE("recycle_segments: dropped segments serve later rolls, and the log reopens whole") {
  RecyclingLog t;
  std::vector<Entry> all, kept;
  std::uint64_t slot = 0;
  {
    auto log = t.open_ok();
    kept = churn(*log, 12, all, &slot);
    LogStats s = log->stats();
    CHECK(s.segments_recycled >= 3);
    CHECK(s.spares_taken >= 3);
    // Recycled segments among those in use, their headers saying so; the
    // rest of the directory: the log's segments and at most kReadyMax spares.
    std::uint64_t recycled_in_use = 0;
    std::uint64_t last = log->end().segment_seq;
    for (std::uint64_t seq = last + 1 - s.segments; seq <= last; ++seq)
      recycled_in_use += header_of(t.fs, t.segment_path(seq)).recycled ? 1 : 0;
    CHECK(recycled_in_use >= 1);
    std::size_t spares = 0;
    for (const std::string& n : names_in(t.fs, t.dir))
      spares += storage::is_spare_file_name(n) ? 1 : 0;
    CHECK(spares <= SegmentSpare::kReadyMax);  // a zeroing in progress counted
  }
  t.fs.crash();
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  CHECK(r.storage->entries() == kept);
  // The stale records behind the active segment's end are no torn tail.
  CHECK(r.report.truncated_file.empty());
  CHECK(r.storage->end().segment_seq == 12);
  // And a log that does not recycle reads it too, and goes on appending.
  r.storage.reset();
  t.options.recycle_segments = false;
  auto again = t.open_ok();
  CHECK(again->entries() == kept);
  save_sync(*again, nullptr, {entry(slot + 1, command_for(slot + 1, 700))});
  kept.push_back(entry(slot + 1, command_for(slot + 1, 700)));
  again.reset();
  t.fs.crash();
  CHECK(t.open_ok()->entries() == kept);
}

TEST_CASE("recycle_segments: with snapshots_behind the snapshot thread recycles") {
  RecyclingLog t;
  t.options.snapshots_behind = true;
  std::vector<Entry> kept;
  {
    auto log = t.open_ok();
    std::uint64_t slot = 0, written = 0;
    while (log->stats().segments_created < 10) {
      ++slot;
      HardState hs{Ballot{1, NodeId{1}}, Slot{slot}, true};
      save_sync(*log, &hs, {entry(slot, command_for(slot, 700))});
      if (log->stats().segments > 3) {
        // The host's own snapshot: written behind, and compaction (the
        // removals, or recycling, on the snapshot thread) follows its record.
        REQUIRE(log->save_snapshot(snapshot_at(slot - 20), Slot{slot - 20}) == Status::ok);
        ++written;
        REQUIRE(eventually([&] {
          return log->sync() == Status::ok && log->stats().snapshots_written >= written;
        }));
      }
      if (log->end().offset < 1024) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(eventually([&] { return log->stats().segments_recycled >= 2; }));
    CHECK(log->stats().removals_failed == 0);
    kept = log->entries();
  }
  t.fs.crash();
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  CHECK(r.storage->entries() == kept);
}

TEST_CASE("recycle_segments: a crash after a recycle, before any roll, loses nothing") {
  RecyclingLog t;
  std::vector<Entry> all;
  std::uint64_t slot = 0;
  std::vector<Entry> kept;
  {
    auto log = t.open_ok();
    churn(*log, 5, all, &slot);
    // Everything below the active segment dropped: the segments before it
    // were zeroed ahead or recycled, so they become spares (up to two).
    const std::uint64_t recycled = log->stats().segments_recycled;
    REQUIRE(log->compact(Slot{slot}) == Status::ok);
    REQUIRE(log->stats().segments == 1);
    REQUIRE(log->stats().segments_recycled > recycled);
    kept = log->entries();
    std::size_t spares = 0;
    for (const std::string& n : names_in(t.fs, t.dir))
      spares += storage::is_spare_file_name(n) ? 1 : 0;
    REQUIRE(spares >= 1);
  }
  t.fs.crash();
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  CHECK(r.storage->entries() == kept);
  CHECK(r.report.temp_files_removed >= 1);  // the recycled spare(s)
  // Gone; the only spare now is the one the reopened log may be zeroing,
  // named for the segment after its active one.
  const std::string zeroing = storage::spare_file_name(r.storage->end().segment_seq + 1);
  for (const std::string& n : names_in(t.fs, t.dir))
    if (storage::is_spare_file_name(n)) CHECK(n == zeroing);
}

namespace {

// A log closed on a recycled active segment with a few batches in it, and
// the entries it holds.
struct RecycledTail {
  RecyclingLog t;
  std::vector<Entry> kept;
  std::uint64_t slot = 0;
  std::uint64_t active = 0;

  RecycledTail() {
    std::vector<Entry> all;
    auto log = t.open_ok();
    // Until a roll took a recycled spare, then five batches into it.
    for (int i = 0; i < 200; ++i) {
      churn(*log, log->stats().segments_created + 1, all, &slot);
      if (header_of(t.fs, t.segment_path(log->end().segment_seq)).recycled) break;
    }
    active = log->end().segment_seq;
    REQUIRE(header_of(t.fs, t.segment_path(active)).recycled);
    for (int i = 0; i < 5; ++i) {
      ++slot;
      all.push_back(entry(slot, command_for(slot, 300)));
      save_sync(*log, nullptr, {all.back()});
    }
    REQUIRE(log->end().segment_seq == active);
    kept = log->entries();
  }
};

std::map<std::string, std::vector<std::byte>> segment_files(FaultFileSystem& fs,
                                                            const std::string& dir) {
  std::map<std::string, std::vector<std::byte>> out;
  for (const std::string& n : names_in(fs, dir))
    if (!storage::is_spare_file_name(n)) out[n] = fs.contents(dir + "/" + n);
  return out;
}

}  // namespace

TEST_CASE("recycle_segments: a torn batch in a recycled segment loses only that batch") {
  RecycledTail base;
  const auto files = segment_files(base.t.fs, base.t.dir);
  const std::uint64_t next = base.slot + 1;
  std::vector<Entry> unsynced = {entry(next, command_for(next, 300)),
                                 entry(next + 1, command_for(next + 1, 300))};
  const std::uint64_t batch_bytes =
      storage::entry_record_bytes(unsynced[0]) + storage::entry_record_bytes(unsynced[1]);
  for (std::uint64_t keep = 0; keep <= batch_bytes + 1; keep += 13) {
    RecyclingLog u;
    bool created = false;
    REQUIRE(u.fs.make_dir(u.dir, &created).ok());
    for (const auto& [name, bytes] : files) u.fs.set_contents(u.dir + "/" + name, bytes);
    REQUIRE(u.fs.sync_dir(u.dir).ok());
    {
      auto log = u.open_ok();
      REQUIRE(log->end().segment_seq == base.active);
      // The spare thread's own sync may come first: fail every sync from
      // now on, the batch's among them.
      u.fs.fail(FsOp::sync_data, EIO, 0, 1000);
      REQUIRE(log->save(nullptr, unsynced) == Status::ok);
      REQUIRE(log->sync() == Status::storage_error);
    }
    u.fs.crash(keep);
    u.fs.clear_faults();
    INFO("kept " << keep << " of the torn batch");
    LogStorage::OpenResult r = u.open();
    REQUIRE(r.ok());
    std::vector<Entry> expected = base.kept;
    if (keep >= batch_bytes) expected.insert(expected.end(), unsynced.begin(), unsynced.end());
    CHECK(r.storage->entries() == expected);
    CHECK(r.storage->end().segment_seq == base.active);
    // Appends go on in the same segment, and a later restart reads them.
    std::uint64_t s = expected.back().slot.value + 1;
    expected.push_back(entry(s, command_for(s, 100)));
    save_sync(*r.storage, nullptr, {expected.back()});
    CHECK(r.storage->end().segment_seq == base.active);
    r.storage.reset();
    u.fs.crash();
    CHECK(u.open_ok()->entries() == expected);
  }
}

TEST_CASE("recycle_segments: a damaged synced batch in a recycled segment is corruption") {
  RecycledTail base;
  const std::string path = base.t.segment_path(base.active);
  std::vector<std::byte> bytes = base.t.fs.contents(path);
  storage::SegmentScan scan = storage::scan_segment(bytes);
  REQUIRE(scan.stale_below > 0);
  REQUIRE(scan.chain.size() >= 4);
  // The second of the five batches' entry: later synced batches follow it.
  const storage::ScannedRecord& victim = scan.chain[scan.chain.size() - 4];
  bytes[victim.offset + storage::kRecordHeaderBytes + 3] ^= std::byte{0x01};
  base.t.fs.set_contents(path, bytes);
  LogStorage::OpenResult r = base.t.open();
  CHECK(r.status == Status::corrupt);
  CHECK(r.error.find("synced") != std::string::npos);
}

TEST_CASE("recycle_segments: what follows a recycled segment's last batch is cut and reported") {
  RecycledTail base;
  const std::string path = base.t.segment_path(base.active);
  const std::vector<std::byte> original = base.t.fs.contents(path);
  const storage::SegmentScan clean = storage::scan_segment(original);
  REQUIRE_FALSE(clean.damaged);
  const std::uint64_t end = clean.chain_end;
  const std::uint64_t last_batch = clean.chain.back().record.header.batch;
  REQUIRE(end % storage::kWritePadBytes != 0);
  // (a) Bytes of a batch that never finished (or of damage to the last one)
  // right after the end: nothing of them decodes.
  // (b) The same, then a whole record of that next batch past the hole.
  for (bool record_after : {false, true}) {
    INFO((record_after ? "a valid record of the torn batch past the hole" : "a hole only"));
    std::vector<std::byte> bytes = original;
    for (std::size_t i = 0; i < 60; ++i) bytes[end + i] = std::byte{0xEE};
    if (record_after) {
      std::vector<std::byte> rec;
      storage::append_entry(rec, entry(base.slot + 2, "after the hole"), last_batch + 1, true);
      std::copy(rec.begin(), rec.end(), bytes.begin() + static_cast<std::ptrdiff_t>(end + 60));
    }
    RecyclingLog u;
    bool created = false;
    REQUIRE(u.fs.make_dir(u.dir, &created).ok());
    for (const auto& [name, contents] : segment_files(base.t.fs, base.t.dir))
      u.fs.set_contents(u.dir + "/" + name, contents);
    u.fs.set_contents(u.segment_path(base.active), bytes);
    REQUIRE(u.fs.sync_dir(u.dir).ok());
    LogStorage::OpenResult r = u.open();
    REQUIRE(r.ok());
    CHECK(r.storage->entries() == base.kept);
    CHECK(r.report.truncated_file == u.segment_path(base.active));
    CHECK(r.report.truncated_at_offset == end);
    // The cut zeroed the rest: what follows reads as before, after a restart.
    std::vector<Entry> expected = base.kept;
    std::uint64_t s = base.slot + 1;
    expected.push_back(entry(s, command_for(s, 100)));
    save_sync(*r.storage, nullptr, {expected.back()});
    r.storage.reset();
    u.fs.crash();
    LogStorage::OpenResult again = u.open();
    REQUIRE(again.ok());
    CHECK(again.storage->entries() == expected);
    CHECK(again.report.truncated_file.empty());
  }
}
