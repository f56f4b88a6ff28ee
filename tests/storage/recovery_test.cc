// Recovery: a torn or zeroed tail is cut (durably), corruption of synced
// records is refused loudly with file and offset, never silently truncated.
#include <doctest/doctest.h>

#include <random>

#include "log_test_util.h"
#include "record_format.h"

using namespace synod;
using namespace synod::test;

namespace {

struct RecordSpan {
  std::uint64_t offset, bytes, batch;
};

// The records of a segment image, in order (stops at the first invalid one).
std::vector<RecordSpan> records_of(const std::vector<std::byte>& image) {
  std::vector<RecordSpan> out;
  std::uint64_t at = 0;
  storage::DecodedRecord r;
  while (at < image.size() &&
         storage::decode_record(std::span(image).subspan(at), &r) == storage::DecodeStatus::ok) {
    out.push_back({at, r.record_bytes, r.header.batch});
    at += r.record_bytes;
  }
  return out;
}

// Writes `batches` batches; batch b holds entries_per(b) entries then a hard
// state with commit = its last slot. Returns each batch's entries.
// Slots continue from the log's last entry; *ends gets each batch's end offset.
std::vector<std::vector<Entry>> write_batches(LogStorage& log, int batches,
                                              std::size_t (*entries_per)(int),
                                              std::size_t command_bytes = 40,
                                              std::vector<std::uint64_t>* ends = nullptr) {
  std::vector<std::vector<Entry>> out;
  std::uint64_t slot = log.entries().empty() ? 0 : log.entries().back().slot.value;
  for (int b = 0; b < batches; ++b) {
    std::vector<Entry> es;
    for (std::size_t i = 0; i < entries_per(b); ++i, ++slot)
      es.push_back(entry(slot + 1, command_for(slot + 1, command_bytes + slot % 7)));
    HardState hs{Ballot{1, NodeId{1}}, Slot{slot}, true};
    save_sync(log, &hs, es);
    out.push_back(es);
    if (ends) ends->push_back(log.end().offset);
  }
  return out;
}

std::vector<Entry> flatten(const std::vector<std::vector<Entry>>& batches, std::size_t n) {
  std::vector<Entry> out;
  for (std::size_t i = 0; i < n; ++i) out.insert(out.end(), batches[i].begin(), batches[i].end());
  return out;
}

std::size_t one(int) { return 1; }
std::size_t varied(int b) { return static_cast<std::size_t>(b % 3 + 1); }

}  // namespace

TEST_CASE("a log cut at any byte of its last records recovers exactly the batches before the cut") {
  for (Preallocation p : {Preallocation::none, Preallocation::allocate}) {
    for (bool zero_rest : {false, true}) {
      TestLog t(1u << 16, p);
      std::vector<std::vector<Entry>> batches;
      std::vector<std::uint64_t> ends;  // offset after each batch
      {
        auto log = t.open_ok();
        batches = write_batches(*log, 6, varied, 30, &ends);
      }
      std::string path = t.segment_path(1);
      const std::vector<std::byte> image = t.fs.contents(path);
      for (std::uint64_t cut = ends[2]; cut <= ends[5]; ++cut) {
        std::vector<std::byte> damaged = image;
        if (zero_rest)
          std::fill(damaged.begin() + static_cast<std::ptrdiff_t>(cut), damaged.end(),
                    std::byte{0});
        else
          damaged.resize(cut);
        t.fs.set_contents(path, damaged);
        // A batch survives if it ends before the cut, or (zero fill) if the
        // bytes zeroed were zero already (high bytes of small integers).
        auto intact = [&](std::uint64_t end) {
          return end <= cut ||
                 (zero_rest && std::all_of(image.begin() + static_cast<std::ptrdiff_t>(cut),
                                           image.begin() + static_cast<std::ptrdiff_t>(end),
                                           [](std::byte b) { return b == std::byte{0}; }));
        };
        std::size_t complete = 0;
        while (complete < ends.size() && intact(ends[complete])) ++complete;
        INFO("cut at " << cut << ", prealloc " << int(p) << ", zero_rest " << zero_rest);
        auto log = t.open_ok();
        std::vector<Entry> expected = flatten(batches, complete);
        REQUIRE(log->entries() == expected);
        CHECK(log->hard_state().commit == expected.back().slot);
        // The cut is durable and the log writable: a new batch, a crash, a reopen.
        Entry next = entry(1000, "after the cut");
        save_sync(*log, nullptr, {next});
        log.reset();
        t.fs.crash();
        expected.push_back(next);
        REQUIRE(t.open_ok()->entries() == expected);
      }
    }
  }
}

TEST_CASE("zeroing or garbage-filling any sector of the unsynced tail loses at most that batch") {
  constexpr std::uint64_t kSector = 512;
  TestLog t(1u << 16, Preallocation::allocate);
  std::vector<std::vector<Entry>> synced, tail;
  std::uint64_t tail_from = 0, tail_end = 0;
  {
    auto log = t.open_ok();
    synced = write_batches(*log, 5, varied);
    tail_from = log->end().offset;
    tail = write_batches(
        *log, 1, [](int) -> std::size_t { return 6; }, 200);
    tail_end = log->end().offset;
  }
  std::string path = t.segment_path(1);
  const std::vector<std::byte> image = t.fs.contents(path);
  std::vector<Entry> before = flatten(synced, synced.size());
  std::vector<Entry> with_tail = before;
  with_tail.insert(with_tail.end(), tail[0].begin(), tail[0].end());
  std::mt19937_64 rng(11);
  for (std::uint64_t sector = tail_from / kSector * kSector; sector < tail_end + kSector;
       sector += kSector) {
    for (bool garbage : {false, true}) {
      std::vector<std::byte> damaged = image;
      // Synced bytes sharing the first sector stay: a torn write never takes them.
      for (std::uint64_t i = std::max(sector, tail_from);
           i < sector + kSector && i < damaged.size(); ++i)
        damaged[i] = garbage ? std::byte(rng()) : std::byte{0};
      t.fs.set_contents(path, damaged);
      bool tail_intact = std::equal(image.begin() + static_cast<std::ptrdiff_t>(tail_from),
                                    image.begin() + static_cast<std::ptrdiff_t>(tail_end),
                                    damaged.begin() + static_cast<std::ptrdiff_t>(tail_from));
      INFO("sector at " << sector << ", garbage " << garbage << ", tail intact " << tail_intact);
      LogStorage::OpenResult r = t.open();
      INFO(r.error);
      REQUIRE(r.ok());
      CHECK(r.storage->entries() == (tail_intact ? with_tail : before));
    }
  }
}

TEST_CASE(
    "a torn batch with intact records after a hole is dropped whole, and the cut is durable") {
  TestLog t(1u << 16);
  std::vector<std::vector<Entry>> synced;
  std::uint64_t tail_from = 0;
  {
    auto log = t.open_ok();
    synced = write_batches(*log, 3, one);
    tail_from = log->end().offset;
    write_batches(
        *log, 1, [](int) -> std::size_t { return 5; }, 100);
  }
  std::string path = t.segment_path(1);
  std::vector<std::byte> image = t.fs.contents(path);
  auto recs = records_of(image);
  // Zero the tail batch's second record: its third to fifth stay valid.
  RecordSpan hole = recs[recs.size() - 5];
  REQUIRE(hole.offset > tail_from);
  std::fill_n(image.begin() + static_cast<std::ptrdiff_t>(hole.offset), hole.bytes, std::byte{0});
  t.fs.set_contents(path, image);
  {
    LogStorage::OpenResult r = t.open();
    REQUIRE(r.ok());
    CHECK(r.storage->entries() == flatten(synced, 3));
    CHECK(r.report.truncated_file == path);
    CHECK(r.report.truncated_at_offset == tail_from);
    // A short new batch: were the cut not durable, stale records of the torn
    // batch would follow it after a crash.
    save_sync(*r.storage, nullptr, {entry(4, "x")});
  }
  t.fs.crash();
  auto log = t.open_ok();
  std::vector<Entry> expected = flatten(synced, 3);
  expected.push_back(entry(4, "x"));
  CHECK(log->entries() == expected);
}

TEST_CASE("a flipped bit in any synced record is refused, naming the file and the offset") {
  TestLog t(1u << 14);
  {
    auto log = t.open_ok();
    write_batches(*log, 6, varied, 8);
  }
  std::string path = t.segment_path(1);
  const std::vector<std::byte> image = t.fs.contents(path);
  auto recs = records_of(image);
  std::uint64_t last_batch = recs.back().batch;
  for (const RecordSpan& rec : recs) {
    if (rec.batch == last_batch) break;  // the last batch is the tail (next test)
    for (std::uint64_t bit = rec.offset * 8; bit < (rec.offset + rec.bytes) * 8; ++bit) {
      std::vector<std::byte> damaged = image;
      damaged[bit / 8] ^= std::byte(1u << (bit % 8));
      t.fs.set_contents(path, damaged);
      LogStorage::OpenResult r = t.open();
      INFO("bit " << bit << ": " << r.error);
      REQUIRE(r.status == Status::corrupt);
      CHECK(r.error.find(path) != std::string::npos);
      CHECK(r.error.find("offset " + std::to_string(rec.offset) + ":") != std::string::npos);
    }
  }
  t.fs.set_contents(path, image);
  CHECK(t.open().ok());
}

TEST_CASE("damage in the last batch is cut as a torn tail and the report says where") {
  // A torn unsynced batch and a damaged synced last batch look the same on
  // disk: with no later batch nothing proves it was synced.
  TestLog t(1u << 14);
  std::vector<std::vector<Entry>> batches;
  {
    auto log = t.open_ok();
    batches = write_batches(*log, 4, one);
  }
  std::string path = t.segment_path(1);
  std::vector<std::byte> image = t.fs.contents(path);
  auto recs = records_of(image);
  image[recs.back().offset + 20] ^= std::byte{0x10};
  t.fs.set_contents(path, image);
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  CHECK(r.storage->entries() == flatten(batches, 3));
  CHECK(r.report.truncated_file == path);
  // Each batch is an entry and a hard state: the cut is where batch 3 ended.
  RecordSpan third_end = recs[recs.size() - 3];
  CHECK(r.report.truncated_at_offset == third_end.offset + third_end.bytes);
  CHECK(!r.report.truncation_reason.empty());
}

TEST_CASE("damage anywhere in a segment that is not the last is refused") {
  TestLog t(4096);
  {
    auto log = t.open_ok();
    write_batches(*log, 60, one, 60);
    REQUIRE(log->end().segment_seq >= 2);
  }
  std::string path = t.segment_path(1);
  const std::vector<std::byte> image = t.fs.contents(path);
  auto recs = records_of(image);
  for (const RecordSpan& rec : {recs[1], recs[recs.size() / 2], recs.back()}) {
    std::vector<std::byte> damaged = image;
    damaged[rec.offset + rec.bytes / 2] ^= std::byte{1};
    t.fs.set_contents(path, damaged);
    LogStorage::OpenResult r = t.open();
    CHECK(r.status == Status::corrupt);
    CHECK(r.error.find(path + " at offset " + std::to_string(rec.offset)) != std::string::npos);
  }
  // Garbage after the last record of a closed segment: also refused.
  std::vector<std::byte> damaged = image;
  std::uint64_t end = recs.back().offset + recs.back().bytes;
  if (damaged.size() < end + 4) damaged.resize(end + 4);
  damaged[end + 2] = std::byte{0x5a};
  t.fs.set_contents(path, damaged);
  CHECK(t.open().status == Status::corrupt);
}

TEST_CASE("a missing segment in the middle is refused") {
  TestLog t(4096);
  {
    auto log = t.open_ok();
    write_batches(*log, 100, one, 60);
    REQUIRE(log->end().segment_seq >= 3);
  }
  REQUIRE(t.fs.remove(t.segment_path(2)).ok());
  LogStorage::OpenResult r = t.open();
  CHECK(r.status == Status::corrupt);
  CHECK(r.error.find("missing") != std::string::npos);
}

TEST_CASE("a half-created segment left by a crash is removed on open") {
  TestLog t;
  {
    auto log = t.open_ok();
    save_sync(*log, nullptr, {entry(1, "a")});
  }
  std::string temp = t.segment_path(2) + ".tmp";
  t.fs.set_contents(temp, std::vector<std::byte>(100, std::byte{7}));
  LogStorage::OpenResult r = t.open();
  REQUIRE(r.ok());
  CHECK(r.report.temp_files_removed == 1);
  CHECK(!t.fs.exists(temp));
  CHECK(r.storage->entries().size() == 1);
}

TEST_CASE("a segment whose header is damaged is refused at offset 0") {
  TestLog t;
  {
    auto log = t.open_ok();
    save_sync(*log, nullptr, {entry(1, "a")});
  }
  std::string path = t.segment_path(1);
  std::vector<std::byte> image = t.fs.contents(path);
  image[3] ^= std::byte{4};
  t.fs.set_contents(path, image);
  LogStorage::OpenResult r = t.open();
  CHECK(r.status == Status::corrupt);
  CHECK(r.error.find(path + " at offset 0") != std::string::npos);
}

namespace {

// A segment image built record by record (valid checksums, chosen structure).
struct ImageBuilder {
  std::vector<std::byte> bytes;
  explicit ImageBuilder(std::uint64_t seq, std::uint64_t header_batch) {
    storage::append_segment_header(bytes, storage::SegmentHeader{seq, 1u << 14}, header_batch);
  }
  ImageBuilder& add(std::uint64_t slot, std::uint64_t batch, bool end) {
    storage::append_entry(bytes, entry(slot, "v"), batch, end);
    return *this;
  }
};

Status open_images(TestLog& t, const std::vector<std::vector<std::byte>>& segments,
                   std::string* error) {
  for (std::size_t i = 0; i < segments.size(); ++i)
    t.fs.set_contents(t.segment_path(i + 1), segments[i]);
  LogStorage::OpenResult r = t.open();
  *error = r.error;
  return r.status;
}

}  // namespace

TEST_CASE("records with valid checksums in an impossible order are refused") {
  std::string error;
  SUBCASE("a gap in batch numbers") {
    TestLog t;
    auto img = ImageBuilder(1, 1).add(1, 2, true).add(2, 4, true).bytes;
    CHECK(open_images(t, {img}, &error) == Status::corrupt);
    CHECK(error.find("batch 4 where batch 3 was expected") != std::string::npos);
  }
  SUBCASE("a batch that changes number before its end") {
    TestLog t;
    auto img = ImageBuilder(1, 1).add(1, 2, false).add(2, 3, true).bytes;
    CHECK(open_images(t, {img}, &error) == Status::corrupt);
  }
  SUBCASE("a segment header in the middle") {
    TestLog t;
    auto b = ImageBuilder(1, 1).add(1, 2, true);
    storage::append_segment_header(b.bytes, storage::SegmentHeader{1, 1u << 14}, 3);
    CHECK(open_images(t, {b.bytes}, &error) == Status::corrupt);
    CHECK(error.find("segment header after the start") != std::string::npos);
  }
  SUBCASE("a segment whose header names another") {
    TestLog t;
    CHECK(open_images(t, {ImageBuilder(5, 1).bytes}, &error) == Status::corrupt);
  }
  SUBCASE("numbering that does not continue into the next segment") {
    TestLog t;
    auto one = ImageBuilder(1, 1).add(1, 2, true).bytes;
    auto two = ImageBuilder(2, 9).add(2, 10, true).bytes;
    CHECK(open_images(t, {one, two}, &error) == Status::corrupt);
    CHECK(error.find("batch 9 follows batch 2") != std::string::npos);
  }
  SUBCASE("an unfinished batch at the end of a segment that is not the last") {
    TestLog t;
    auto one = ImageBuilder(1, 1).add(1, 2, true).add(2, 3, false).bytes;
    auto two = ImageBuilder(2, 4).add(3, 5, true).bytes;
    CHECK(open_images(t, {one, two}, &error) == Status::corrupt);
    CHECK(error.find("unfinished batch") != std::string::npos);
  }
  SUBCASE("the same, well formed, opens") {
    TestLog t;
    auto one = ImageBuilder(1, 1).add(1, 2, true).add(2, 3, false).add(3, 3, true).bytes;
    auto two = ImageBuilder(2, 4).add(4, 5, true).bytes;
    CHECK(open_images(t, {one, two}, &error) == Status::ok);
  }
}
