// Appends into prewritten segments on the real file system go with O_DIRECT
// from a page-aligned buffer (SegmentLog, docs/storage.md "Uncached
// appends"): the bytes must come back exactly, across rolls, recycled
// segments and restarts (where the last partial page is read back), and the
// descriptor must still serve buffered calls after an uncached write. Each
// such write rewrites the synced bytes of the page it starts in, which must
// be the page's bytes whatever failed before.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "log_test_util.h"
#include "real_dir.h"
#include "segment_log.h"
#include "segment_scan.h"
#include "synod/file_system.h"
#include "synod/log_storage.h"

using namespace synod;
using namespace synod::test;

namespace {

struct AlignedBytes {
  std::byte* p;
  std::size_t n;
  explicit AlignedBytes(std::size_t bytes)
      : p(static_cast<std::byte*>(std::aligned_alloc(4096, bytes))), n(bytes) {
    REQUIRE(p != nullptr);
    for (std::size_t i = 0; i < n; ++i) p[i] = std::byte(static_cast<unsigned char>(i * 13 + 5));
  }
  ~AlignedBytes() { std::free(p); }
  std::span<const std::byte> span() const { return {p, n}; }
};

// Appends entries of varied sizes one batch each, keeping them in `all`.
void append_batches(LogStorage& log, std::vector<Entry>& all, int batches) {
  for (int i = 0; i < batches; ++i) {
    std::uint64_t slot = all.empty() ? 1 : all.back().slot.value + 1;
    all.push_back(entry(slot, command_for(slot, 1 + (slot * 389) % 9000)));
    REQUIRE(log.save(nullptr, std::vector<Entry>{all.back()}) == Status::ok);
    REQUIRE(log.sync() == Status::ok);
  }
}

// The log holds every entry of `all` from at most `below` (compaction may
// keep more: it drops whole segments) to the last, each exactly.
bool holds_from(const std::vector<Entry>& got, const std::vector<Entry>& all, std::uint64_t below) {
  if (got.empty()) return all.empty();
  std::uint64_t first = got.front().slot.value;
  if (first < 1 || first > std::max<std::uint64_t>(below, 1) ||
      first + got.size() - 1 != all.size())
    return false;
  return same_entries(
      got, std::vector<Entry>(all.begin() + static_cast<std::ptrdiff_t>(first - 1), all.end()));
}

}  // namespace

TEST_CASE("File::write_uncached from aligned memory, then buffered calls on the same file") {
  RealTempDir dir;
  FileSystem& fs = posix_file_system();
  const std::string path = dir.path + "/f";
  std::unique_ptr<File> f;
  REQUIRE(fs.open(path, OpenMode::create_new, &f).ok());
  AlignedBytes block(64u << 10);
  REQUIRE(f->write_uncached(0, block.span()).ok());
  if (!dir.on_tmpfs()) CHECK(resident_pages(path, 0, 64u << 10) == 0);
  // A buffered write and read at unaligned offsets: the descriptor must not
  // still be in O_DIRECT mode (they would fail with EINVAL).
  const std::vector<std::byte> small(100, std::byte{0x5A});
  std::size_t n = 0;
  REQUIRE(f->write_at(4097, small, &n).ok());
  CHECK(n == small.size());
  std::vector<std::byte> got(333);
  REQUIRE(f->read_at(10, got, &n).ok());
  CHECK(n == got.size());
  CHECK(std::equal(got.begin(), got.end(), block.p + 10));
  // And uncached again, over pages the buffered calls left cached.
  REQUIRE(f->write_uncached(0, block.span().first(8192)).ok());
  REQUIRE(f->sync_data().ok());
  std::vector<std::byte> all(64u << 10);
  REQUIRE(f->read_at(0, all, &n).ok());
  REQUIRE(n == all.size());
  CHECK(std::equal(all.begin(), all.end(), block.p));
  f.reset();
}

TEST_CASE(
    "a zeroed-ahead, recycling log on the real file system: appends uncached, exact after "
    "restarts") {
  RealTempDir dir;
  LogOptions o;
  o.segment_bytes = 256u << 10;
  o.preallocation = Preallocation::write_zeros;
  o.recycle_segments = true;
  std::vector<Entry> all;
  std::uint64_t compacted_below = 0;
  std::uint64_t rolled = 0;
  for (int run = 0; run < 3; ++run) {
    LogStorage::OpenResult r = LogStorage::open(dir.path, o);
    INFO("run " << run << ": " << r.error);
    REQUIRE(r.ok());
    CHECK(holds_from(r.storage->entries(), all, compacted_below));
    // The first batch after a restart rewrites the last partial page from
    // the bytes read back at open; enough batches to roll into spares.
    for (int round = 0; round < 40; ++round) {
      append_batches(*r.storage, all, 5);
      if (all.size() > 60) {
        compacted_below = all[all.size() - 40].slot.value;
        REQUIRE(r.storage->compact(Slot{compacted_below}) == Status::ok);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the spare thread's turn
    }
    const LogStats s = r.storage->stats();
    CHECK(s.spares_taken > 0);
    rolled += s.spares_taken;
    if (!dir.on_tmpfs()) {
      // Segments taken from the spare are written uncached: of the active
      // one's 64 pages only those the header's buffered write and the
      // restart's read touched may be cached.
      std::string active = segment_path_in(dir.path, r.storage->end().segment_seq);
      CHECK(resident_pages(active, 0, o.segment_bytes) <= 2);
    }
  }
  CHECK(rolled >= 3);
  LogStorage::OpenResult r = LogStorage::open(dir.path, o);
  REQUIRE(r.ok());
  CHECK(holds_from(r.storage->entries(), all, compacted_below));
}

TEST_CASE("a batch whose sync failed does not become the page the next write starts from") {
  // Found in review: the kept page was taken from the failed batch, and the
  // next write put it at the offset of the last durable one, over synced
  // records. A log stops after a failed sync (LogStorage::fail); SegmentLog
  // itself must not depend on that.
  TestLog t(64u << 10, Preallocation::write_zeros);
  bool created = false;
  REQUIRE(t.fs.make_dir(t.dir, &created).ok());
  storage::SegmentLog log(t.fs, t.dir, t.options);
  REQUIRE(log.start().ok());
  std::uint64_t slot = 1;
  auto append = [&](std::size_t bytes) {
    std::vector<storage::StagedWrite> w{
        storage::StagedWrite::of_entry(slot, entry(slot, command_for(slot, bytes)))};
    ++slot;
    return log.append_batch(w);
  };
  REQUIRE(append(100).ok());
  REQUIRE(eventually([&] { return log.stats().spares_zeroed > 0; }));
  REQUIRE(append(1000).ok());  // rolls into the zeroed spare
  REQUIRE(log.end().segment_seq == 2);
  REQUIRE(append(1500).ok());
  const std::uint64_t durable_end = log.end().offset;
  t.fs.fail(FsOp::sync_data, EIO);
  CHECK_FALSE(append(3000).ok());  // written, then its sync fails; crosses a page
  t.fs.clear_faults();
  CHECK(log.end().offset == durable_end);
  REQUIRE(append(200).ok());
  const std::vector<std::byte> bytes = t.fs.contents(log.end().segment_path);
  const storage::SegmentScan scan = storage::scan_segment(bytes);
  // The header, the 1000- and 1500-byte batches, and the 200-byte one (the
  // failed batch's bytes past it are what a torn write leaves).
  REQUIRE(scan.chain.size() == 4);
  CHECK(scan.chain[3].offset == durable_end);
  CHECK(scan.chain_end == log.end().offset);
}
