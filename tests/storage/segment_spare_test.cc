// SegmentSpare and Preallocation::write_zeros: the next segment is zeroed
// and synced ahead on a thread of its own, the roll takes it, a roll that
// finds none ready fallocates instead, and recovery removes spares nobody
// took.
#include "segment_spare.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "log_test_util.h"

using namespace synod;
using namespace synod::test;
using storage::SegmentSpare;

namespace {

// Polls for the background thread (no timing is asserted: only that it
// gets there within a generous bound).
bool eventually(const std::function<bool()>& pred) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool all_zero(const std::vector<std::byte>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

TEST_CASE("a spare is zeroed to the segment size and durable before it is handed out") {
  FaultFileSystem fs;
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  const std::string path = "/d/" + storage::spare_file_name(2);
  SegmentSpare spare(fs, 3u << 20);
  spare.prepare(path);
  REQUIRE(eventually([&] { return spare.ready(path); }));
  CHECK(spare.take("/d/" + storage::spare_file_name(3)) == nullptr);  // another path
  CHECK(spare.missed() == 1);
  // Not ready any more: the miss abandoned it.
  CHECK_FALSE(spare.ready(path));
  spare.prepare(path);
  REQUIRE(eventually([&] { return spare.ready(path); }));
  std::vector<std::byte> bytes = fs.contents(path);
  CHECK(bytes.size() == 3u << 20);
  CHECK(all_zero(bytes));
  CHECK(fs.calls(FsOp::sync_data) == 2);  // each preparation ended with its sync
  // Preparing another path drops the prepared one nobody took.
  spare.prepare("/d/" + storage::spare_file_name(5));
  REQUIRE(eventually([&] { return spare.ready("/d/" + storage::spare_file_name(5)); }));
  CHECK_FALSE(fs.exists(path));
  CHECK(spare.take("/d/" + storage::spare_file_name(5)) != nullptr);
  CHECK(spare.taken() == 1);
}

TEST_CASE("a spare not ready at the roll is abandoned and its file removed") {
  FaultFileSystem fs;
  bool created = false;
  REQUIRE(fs.make_dir("/d", &created).ok());
  const std::string path = "/d/" + storage::spare_file_name(2);
  SegmentSpare spare(fs, 256u << 20);  // long enough to be caught part way
  spare.prepare(path);
  // Taken once the thread is at work on it (its file is there), so the take
  // abandons a spare in progress rather than one not begun.
  REQUIRE(eventually([&] { return fs.exists(path); }));
  CHECK(spare.take(path) == nullptr);
  CHECK(spare.missed() == 1);
  CHECK(eventually([&] {
    std::vector<std::string> names;
    return fs.list("/d", &names).ok() && names.empty();
  }));
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
