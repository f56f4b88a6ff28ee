// SegmentSpare and Preallocation::write_zeros: the next segment is zeroed
// and synced ahead on a thread of its own, the roll takes it, a roll that
// finds none ready fallocates instead and the spare is kept for the next,
// a restart keeps appending to a segment zeroed ahead, and recovery removes
// spares nobody took.
#include "segment_spare.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "forwarding_file_system.h"
#include "log_test_util.h"
#include "record_format.h"
#include "segment_log.h"

using namespace synod;
using namespace synod::test;
using storage::SegmentSpare;

namespace {

bool all_zero(const std::vector<std::byte>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// A FaultFileSystem whose spare files' writes wait while the gate is held,
// so that a test can make a roll find the spare not ready, for as long as
// it likes. Everything else goes straight through.
class GatedFileSystem final : public test::ForwardingFileSystem {
 public:
  explicit GatedFileSystem(FaultFileSystem& fs) : ForwardingFileSystem(fs) {}

  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    std::lock_guard lock(mutex_);
    held_ = false;
    opened_.notify_all();
  }
  // Writes that had to wait (the spare thread is at work and was held).
  std::uint64_t held_writes() const {
    std::lock_guard lock(mutex_);
    return held_writes_;
  }
  // Every write to a file opened as a spare (the spare's zeros, then, once
  // a roll took it, the segment's header and batches): offset and bytes.
  std::vector<std::pair<std::uint64_t, std::size_t>> writes() const {
    std::lock_guard lock(mutex_);
    return writes_;
  }
  void forget_writes() {
    std::lock_guard lock(mutex_);
    writes_.clear();
  }

  IoStatus open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override {
    IoStatus st = ForwardingFileSystem::open(path, mode, out);
    std::string_view name = std::string_view(path).substr(path.rfind('/') + 1);
    if (st.ok() && storage::is_spare_file_name(name))
      *out = std::make_unique<GatedFile>(*this, std::move(*out));
    return st;
  }

 private:
  class GatedFile final : public test::ForwardingFile {
   public:
    GatedFile(GatedFileSystem& fs, std::unique_ptr<File> file)
        : ForwardingFile(std::move(file)), fs_(fs) {}
    IoStatus write_at(std::uint64_t offset, std::span<const std::byte> data,
                      std::size_t* n) override {
      fs_.wait_open(offset, data.size());
      return ForwardingFile::write_at(offset, data, n);
    }

   private:
    GatedFileSystem& fs_;
  };

  // Bounded, so that a failing test ends rather than hangs.
  void wait_open(std::uint64_t offset, std::size_t bytes) {
    std::unique_lock lock(mutex_);
    writes_.emplace_back(offset, bytes);
    if (!held_) return;
    ++held_writes_;
    opened_.wait_for(lock, std::chrono::seconds(30), [&] { return !held_; });
  }

  mutable std::mutex mutex_;
  std::condition_variable opened_;
  bool held_ = false;
  std::uint64_t held_writes_ = 0;
  std::vector<std::pair<std::uint64_t, std::size_t>> writes_;
};

}  // namespace

TEST_CASE("a spare is zeroed to the segment size and durable before it is handed out") {
  FaultFileSystem fs;
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  const std::string path = "/d/" + storage::spare_file_name(2);
  SegmentSpare spare(fs, 3u << 20);
  spare.prepare(path);
  REQUIRE(eventually([&] { return spare.ready(); }));
  std::vector<std::byte> bytes = fs.contents(path);
  CHECK(bytes.size() == 3u << 20);
  CHECK(all_zero(bytes));
  CHECK(fs.calls(FsOp::sync_data) == 1);
  // Asked for the next segment's while one is prepared: that one is kept,
  // whatever segment its name was meant for, and no second file is made.
  spare.prepare("/d/" + storage::spare_file_name(3));
  std::string taken_path;
  bool recycled = true;
  std::unique_ptr<File> file = spare.take(&taken_path, &recycled);
  CHECK_FALSE(recycled);
  REQUIRE(file != nullptr);
  CHECK(taken_path == path);
  CHECK(spare.counters().taken == 1);
  CHECK(spare.counters().missed == 0);
  CHECK_FALSE(fs.exists("/d/" + storage::spare_file_name(3)));
  CHECK(fs.calls(FsOp::remove) == 0);
  // Once taken, the next one is prepared.
  spare.prepare("/d/" + storage::spare_file_name(3));
  REQUIRE(eventually([&] { return spare.ready(); }));
  CHECK(fs.contents("/d/" + storage::spare_file_name(3)).size() == 3u << 20);
}

TEST_CASE("a spare not ready at a roll is kept, and taken by the next one") {
  FaultFileSystem faults;
  GatedFileSystem fs(faults);
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  const std::string path = "/d/" + storage::spare_file_name(2);
  fs.hold();
  SegmentSpare spare(fs, 4u << 20);
  spare.prepare(path);
  REQUIRE(eventually([&] { return fs.held_writes() > 0; }));  // at work on it, held
  std::string taken_path;
  bool recycled = true;
  CHECK(spare.take(&taken_path, &recycled) == nullptr);
  CHECK(spare.counters().missed == 1);
  spare.prepare("/d/" + storage::spare_file_name(3));  // the roll asks for the next
  fs.release();
  REQUIRE(eventually([&] { return spare.ready(); }));
  // The zeros written before the miss were not thrown away: the same file.
  CHECK(faults.calls(FsOp::remove) == 0);
  CHECK_FALSE(faults.exists("/d/" + storage::spare_file_name(3)));
  std::unique_ptr<File> file = spare.take(&taken_path, &recycled);
  CHECK_FALSE(recycled);
  REQUIRE(file != nullptr);
  CHECK(taken_path == path);
  CHECK(spare.counters().taken == 1);
  CHECK(all_zero(faults.contents(path)));
  CHECK(faults.contents(path).size() == 4u << 20);
}

TEST_CASE(
    "a paced spare spreads its zeros over the time asked; a roll that misses it ends the pacing") {
  FaultFileSystem faults;
  GatedFileSystem fs(faults);
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  const std::string path = "/d/" + storage::spare_file_name(2);
  constexpr std::uint64_t kBytes = 4u << 20;  // 16 chunks
  constexpr std::uint64_t kChunks = kBytes / SegmentSpare::kChunkBytes;
  SegmentSpare spare(fs, kBytes);
  // Chunk k is due k/16 of the way through a minute: the first at once, the
  // second after 3.75 s.
  spare.prepare(path, std::chrono::seconds(60));
  REQUIRE(eventually([&] { return !fs.writes().empty(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(fs.writes().size() < kChunks);
  CHECK_FALSE(spare.ready());
  for (const auto& [offset, bytes] : fs.writes()) CHECK(bytes == SegmentSpare::kChunkBytes);
  // The roll that finds it not ready: the rest goes out unpaced.
  std::string taken_path;
  bool recycled = true;
  CHECK(spare.take(&taken_path, &recycled) == nullptr);
  CHECK(spare.counters().missed == 1);
  REQUIRE(eventually([&] { return spare.ready(); }));
  CHECK(fs.writes().size() == kChunks);
  CHECK(all_zero(faults.contents(path)));
  CHECK(faults.contents(path).size() == kBytes);
  // The next preparation is paced again.
  REQUIRE(spare.take(&taken_path, &recycled) != nullptr);
  fs.forget_writes();
  spare.prepare("/d/" + storage::spare_file_name(3), std::chrono::seconds(60));
  REQUIRE(eventually([&] { return !fs.writes().empty(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(fs.writes().size() < kChunks);
  CHECK_FALSE(spare.ready());
}

TEST_CASE("a spare paced over an hour does not hold up the log's close") {
  FaultFileSystem fs;
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  auto start = std::chrono::steady_clock::now();
  {
    SegmentSpare spare(fs, 4u << 20);
    spare.prepare("/d/" + storage::spare_file_name(2), std::chrono::hours(1));
    REQUIRE(eventually([&] { return fs.exists("/d/" + storage::spare_file_name(2)); }));
  }
  // Bounded generously: the thread waits on the pacing, and the destructor
  // must wake it rather than wait the hour out.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  CHECK_FALSE(fs.exists("/d/" + storage::spare_file_name(2)));
}

TEST_CASE("a spare in progress when the log closes is abandoned and its file removed") {
  FaultFileSystem faults;
  GatedFileSystem fs(faults);
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  const std::string path = "/d/" + storage::spare_file_name(2);
  {
    fs.hold();
    SegmentSpare spare(fs, 4u << 20);
    spare.prepare(path);
    REQUIRE(eventually([&] { return fs.held_writes() > 0; }));
    fs.release();  // the destructor stops it between two writes
  }
  std::vector<std::string> names;
  REQUIRE(faults.list("/d", &names).ok());
  // Removed unless the thread had finished first (then recovery removes it).
  if (!names.empty()) CHECK(faults.contents(path).size() == 4u << 20);
}

TEST_CASE("write_zeros: rolls take the spares zeroed ahead, and the log reopens whole") {
  TestLog t(64u << 10, Preallocation::write_zeros);
  std::vector<Entry> all;
  std::uint64_t rolls = 0;
  {
    auto log = t.open_ok();
    std::uint64_t slot = 0;
    while (log->stats().segments_created < 5) {
      std::uint64_t seq = log->end().segment_seq;
      // Waits, at the start of each segment, for the next one's spare, so
      // that every roll below finds it ready.
      if (log->end().offset < 1024)
        REQUIRE(eventually([&] {
          std::vector<std::string> names;
          REQUIRE(t.fs.list(t.dir, &names).ok());
          return std::find(names.begin(), names.end(), storage::spare_file_name(seq + 1)) !=
                     names.end() &&
                 t.fs.contents(t.dir + "/" + storage::spare_file_name(seq + 1)).size() ==
                     (64u << 10);
        }));
      ++slot;
      all.push_back(entry(slot, command_for(slot, 900)));
      REQUIRE(log->save(nullptr, std::vector<Entry>{all.back()}) == Status::ok);
      REQUIRE(log->sync() == Status::ok);
    }
    LogStats s = log->stats();
    rolls = s.segments_created - 1;
    CHECK(s.spares_taken + s.spares_missed == rolls);
    CHECK(s.spares_taken >= 1);
    // Every segment is the full size (zeroed or fallocated), none grew.
    for (std::uint64_t seq = 1; seq <= s.segments_created; ++seq)
      CHECK(t.fs.contents(t.segment_path(seq)).size() == (64u << 10));
  }
  t.fs.crash();
  auto reopened = t.open();
  REQUIRE(reopened.ok());
  CHECK(reopened.storage->entries() == all);
  CHECK(reopened.report.temp_files_removed <= 1);  // the last spare, if it was synced
}

TEST_CASE("recovery removes a spare segment left behind") {
  TestLog t(64u << 10, Preallocation::allocate);
  {
    auto log = t.open_ok();
    REQUIRE(log->save(nullptr, std::vector<Entry>{entry(1, "one")}) == Status::ok);
    REQUIRE(log->sync() == Status::ok);
  }
  std::unique_ptr<File> f;
  REQUIRE(t.fs.open(t.dir + "/" + storage::spare_file_name(9), OpenMode::create_new, &f).ok());
  REQUIRE(f->sync_data().ok());
  f.reset();
  REQUIRE(t.fs.sync_dir(t.dir).ok());
  auto reopened = t.open();
  REQUIRE(reopened.ok());
  CHECK(reopened.report.temp_files_removed == 1);
  std::vector<std::string> names;
  REQUIRE(t.fs.list(t.dir, &names).ok());
  CHECK(std::find(names.begin(), names.end(), storage::spare_file_name(9)) == names.end());
  CHECK(reopened.storage->entries().size() == 1);
}

TEST_CASE(
    "write_zeros: a new log starts on a fallocated segment and moves to the spare once ready") {
  TestLog t(1u << 20, Preallocation::write_zeros);
  std::vector<Entry> all;
  {
    auto log = t.open_ok();
    std::uint64_t slot = 0, offset_left = 0;
    while (log->end().segment_seq == 1 && slot < 5000) {
      offset_left = log->end().offset;
      ++slot;
      all.push_back(entry(slot, command_for(slot, 100)));
      REQUIRE(log->save(nullptr, std::vector<Entry>{all.back()}) == Status::ok);
      REQUIRE(log->sync() == Status::ok);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(log->end().segment_seq == 2);
    // Left long before it was full, for the zeroed spare.
    CHECK(offset_left < (1u << 20) / 2);
    CHECK(log->stats().spares_taken == 1);
    CHECK(log->stats().spares_missed == 0);
  }
  t.fs.crash();
  CHECK(t.open_ok()->entries() == all);
}

namespace {

struct Appender {
  LogStorage& log;
  std::vector<Entry>& all;
  std::uint64_t slot = 0;
  void operator()(std::size_t bytes) {
    ++slot;
    all.push_back(entry(slot, command_for(slot, bytes)));
    REQUIRE(log.save(nullptr, std::vector<Entry>{all.back()}) == Status::ok);
    REQUIRE(log.sync() == Status::ok);
  }
};

// Waits until the spare thread's fdatasync (the only one while nothing is
// appended) has happened, and a little longer for the spare to be marked
// ready after it.
void wait_for_spare_sync(FaultFileSystem& fs, std::uint64_t syncs_before) {
  REQUIRE(eventually([&] { return fs.calls(FsOp::sync_data) > syncs_before; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// The files of a log directory, to start other logs from the same bytes.
std::map<std::string, std::vector<std::byte>> files_of(FaultFileSystem& fs,
                                                       const std::string& dir) {
  std::vector<std::string> names;
  REQUIRE(fs.list(dir, &names).ok());
  std::map<std::string, std::vector<std::byte>> out;
  for (const std::string& n : names)
    if (!storage::is_spare_file_name(n)) out[n] = fs.contents(dir + "/" + n);
  return out;
}

}  // namespace

TEST_CASE("write_zeros: a spare missed at a roll is kept, and the log moves to it once ready") {
  TestLog t(64u << 10, Preallocation::write_zeros);
  GatedFileSystem gated(t.fs);
  t.options.file_system = &gated;
  std::vector<Entry> all;
  gated.hold();
  {
    auto log = t.open_ok();
    Appender append{*log, all};
    REQUIRE(eventually([&] { return gated.held_writes() > 0; }));  // at work on segment 2's
    while (log->end().segment_seq == 1) append(900);               // the roll finds the spare held
    CHECK(log->stats().spares_missed == 1);
    CHECK(log->stats().spares_taken == 0);
    CHECK(t.fs.exists(t.dir + "/" + storage::spare_file_name(2)));  // still at work
    std::uint64_t syncs = t.fs.calls(FsOp::sync_data);
    gated.release();
    wait_for_spare_sync(t.fs, syncs);
    // Segment 2 was fallocated: the log leaves it for the spare, which is
    // the file first meant for segment 2, long before segment 2 is full.
    for (int i = 0; i < 30 && log->end().segment_seq == 2; ++i) append(900);
    CHECK(log->end().segment_seq == 3);
    LogStats s = log->stats();
    CHECK(s.spares_taken == 1);
    CHECK(s.spares_missed == 1);
    CHECK(s.segments_left_early == 1);
    CHECK(t.fs.calls(FsOp::remove) == 0);  // no spare thrown away
    CHECK_FALSE(t.fs.exists(t.dir + "/" + storage::spare_file_name(2)));
    CHECK(t.fs.contents(t.segment_path(3)).size() == (64u << 10));
  }
  t.fs.crash();
  CHECK(t.open_ok()->entries() == all);
}

TEST_CASE("write_zeros: a restart keeps appending to a segment zeroed ahead") {
  TestLog t(64u << 10, Preallocation::write_zeros);
  std::vector<Entry> all;
  std::uint64_t slot = 0;
  {
    auto log = t.open_ok();
    Appender append{*log, all};
    // A new log starts on a fallocated segment and leaves it for the spare.
    for (int i = 0; i < 5000 && log->end().segment_seq == 1; ++i) {
      append(100);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(log->end().segment_seq == 2);
    REQUIRE(log->stats().spares_taken == 1);
    append(100);
    slot = append.slot;
  }
  for (int restart = 0; restart < 3; ++restart) {
    if (restart == 1) t.fs.crash();  // a crash instead of a clean close, once
    std::uint64_t syncs = t.fs.calls(FsOp::sync_data);
    LogStorage::OpenResult r = t.open();
    REQUIRE(r.ok());
    CHECK(r.storage->entries() == all);
    LogStorage& log = *r.storage;
    // With the next segment's spare ready, appends stay in segment 2.
    wait_for_spare_sync(t.fs, syncs);
    Appender append{log, all, slot};
    for (int i = 0; i < 10; ++i) append(100);
    slot = append.slot;
    CHECK(log.end().segment_seq == 2);
    CHECK(log.stats().segments_created == 0);
    CHECK(log.stats().segments_left_early == 0);
  }
}

TEST_CASE("write_zeros: a restart on a fallocated segment still moves to the spare") {
  TestLog t(64u << 10, Preallocation::write_zeros);
  GatedFileSystem gated(t.fs);
  t.options.file_system = &gated;
  std::vector<Entry> all;
  gated.hold();
  {
    auto log = t.open_ok();
    Appender append{*log, all};
    for (int i = 0; i < 5; ++i) append(100);  // segment 1: fallocated, the spare held
    gated.release();
  }
  gated.hold();
  auto log = t.open_ok();
  std::uint64_t syncs = t.fs.calls(FsOp::sync_data);
  gated.release();
  wait_for_spare_sync(t.fs, syncs);
  Appender append{*log, all, 5};
  append(100);
  CHECK(log->end().segment_seq == 2);
  CHECK(log->stats().segments_left_early == 1);
  CHECK(log->stats().spares_taken == 1);
}

TEST_CASE("write_zeros: a torn batch in a segment kept over a restart loses only that batch") {
  // A log closed on segment 2 (zeroed ahead); every run below restarts from
  // its bytes, tears one batch at some byte, and restarts again.
  TestLog base(64u << 10, Preallocation::write_zeros);
  std::vector<Entry> synced;
  std::uint64_t files_end_offset = 0;
  {
    auto log = base.open_ok();
    Appender append{*log, synced};
    for (int i = 0; i < 5000 && log->end().segment_seq == 1; ++i) {
      append(100);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(log->end().segment_seq == 2);
    for (int i = 0; i < 5; ++i) append(100);
    files_end_offset = log->end().offset;
  }
  const auto files = files_of(base.fs, base.dir);
  const std::uint64_t next = synced.back().slot.value + 1;
  std::vector<Entry> unsynced = {entry(next, command_for(next, 300)),
                                 entry(next + 1, command_for(next + 1, 300))};
  const std::uint64_t batch_bytes =
      storage::entry_record_bytes(unsynced[0]) + storage::entry_record_bytes(unsynced[1]);
  // The batch is written from the start of the page it begins in, with that
  // page's earlier (synced) bytes in front: those must survive any tear.
  const std::uint64_t lead = files_end_offset % 4096;
  for (std::uint64_t keep = 0; keep <= lead + batch_bytes + 1; keep += 11) {
    TestLog u(64u << 10, Preallocation::write_zeros);
    GatedFileSystem gated(u.fs);
    u.options.file_system = &gated;
    bool created = false;
    REQUIRE(u.fs.make_dir(u.dir, &created).ok());
    for (const auto& [name, bytes] : files) u.fs.set_contents(u.dir + "/" + name, bytes);
    REQUIRE(u.fs.sync_dir(u.dir).ok());
    gated.hold();  // the spare's own fdatasync must not take the injected fault
    {
      auto log = u.open_ok();
      u.fs.fail(FsOp::sync_data, EIO);
      REQUIRE(log->save(nullptr, unsynced) == Status::ok);
      REQUIRE(log->sync() == Status::storage_error);
      gated.release();
    }
    u.fs.crash(keep);
    u.fs.clear_faults();
    INFO("kept " << keep << " of the torn batch");
    LogStorage::OpenResult r = u.open();
    REQUIRE(r.ok());
    std::vector<Entry> expected = synced;
    if (keep >= lead + batch_bytes)
      expected.insert(expected.end(), unsynced.begin(), unsynced.end());
    CHECK(r.storage->entries() == expected);
    CHECK(r.storage->end().segment_seq == 2);
    Appender append{*r.storage, expected, expected.back().slot.value};
    append(100);
    CHECK(r.storage->end().segment_seq == 2);
    r.storage.reset();
    u.fs.crash();
    CHECK(u.open_ok()->entries() == expected);
  }
}

TEST_CASE("write_zeros: writes into a segment zeroed ahead are whole pages") {
  // The real file system writes them with O_DIRECT, which takes whole
  // blocks only: each write starts at the page the previous batch ended in
  // (its earlier bytes rewritten as they were) and ends on a page boundary.
  TestLog t(64u << 10, Preallocation::write_zeros);
  GatedFileSystem gated(t.fs);
  t.options.file_system = &gated;
  std::vector<Entry> all;
  {
    auto log = t.open_ok();
    Appender append{*log, all};
    for (int i = 0; i < 5000 && log->end().segment_seq == 1; ++i) {
      append(100);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(log->end().segment_seq == 2);
    gated.forget_writes();
    std::uint64_t records_before = log->stats().bytes_written;
    std::uint64_t offset_before = log->end().offset;
    for (std::size_t bytes : {1u, 77u, 1000u, 5000u, 4096u, 300u}) append(bytes);
    // The offset and the byte count are the records', not the padding's.
    CHECK(log->end().offset - offset_before == log->stats().bytes_written - records_before);
    CHECK(log->end().offset % 4096 != 0);
    std::vector<std::pair<std::uint64_t, std::size_t>> writes = gated.writes();
    CHECK(writes.size() == 6);
    for (const auto& write : writes) {
      // Not a structured binding: INFO captures it, which clang 14 refuses.
      const std::uint64_t offset = write.first;
      const std::size_t bytes = write.second;
      INFO("write of " << bytes << " bytes at " << offset);
      CHECK(offset % 4096 == 0);
      CHECK((offset + bytes) % 4096 == 0);
    }
    // Each batch starts on the page where the records before it end.
    CHECK(writes.front().first == offset_before / 4096 * 4096);
  }
  t.fs.crash();
  CHECK(t.open_ok()->entries() == all);
}

TEST_CASE("File::write_zeros on the real file system: O_DIRECT blocks and buffered ends") {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/synod-zeros-XXXXXX";
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  FileSystem& fs = posix_file_system();
  const std::string path = dir + "/f";
  constexpr std::size_t kSize = (3u << 20) + 4096 + 100;
  std::unique_ptr<File> f;
  REQUIRE(fs.open(path, OpenMode::create_new, &f).ok());
  std::vector<std::byte> ab(kSize, std::byte{0xAB});
  REQUIRE(storage::write_fully(*f, 0, ab, path).ok());
  // Cached pages first, so that the O_DIRECT write must replace them.
  std::vector<std::byte> got(kSize);
  std::size_t n = 0;
  REQUIRE(f->read_at(0, got, &n).ok());
  REQUIRE(f->write_zeros(4096, 3u << 20).ok());              // aligned: O_DIRECT
  REQUIRE(f->write_zeros((3u << 20) + 4096 + 10, 50).ok());  // unaligned: buffered
  REQUIRE(f->sync_data().ok());
  REQUIRE(f->read_at(0, got, &n).ok());
  REQUIRE(n == kSize);
  for (std::size_t i = 0; i < kSize; ++i) {
    bool zero = (i >= 4096 && i < (3u << 20) + 4096) ||
                (i >= (3u << 20) + 4096 + 10 && i < (3u << 20) + 4096 + 60);
    if (got[i] != (zero ? std::byte{0} : std::byte{0xAB})) {
      FAIL("byte " << i << " is " << int(got[i]));
      break;
    }
  }
  std::uint64_t size = 0;
  REQUIRE(f->size(&size).ok());
  CHECK(size == kSize);
  f.reset();
  (void)fs.remove(path);
  (void)::rmdir(dir.c_str());
}
