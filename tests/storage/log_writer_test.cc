// LogWriter: group commit on a background thread, reported through a callback.
#include "synod/log_writer.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>

#include "log_test_util.h"

using namespace synod;
using namespace synod::test;

namespace {

// Records the callback's reports; lets a test hold the writer inside one.
struct Reports {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::uint64_t> durable;
  std::vector<Status> statuses;
  bool hold_first = false;
  bool released = false;

  LogWriter::DurableFn callback() {
    return [this](std::uint64_t d, Status st) {
      std::unique_lock lock(mutex);
      durable.push_back(d);
      statuses.push_back(st);
      cv.notify_all();
      if (hold_first && durable.size() == 1) cv.wait(lock, [&] { return released; });
    };
  }
  void wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return durable.size() >= n; });
  }
  void release() {
    std::lock_guard lock(mutex);
    released = true;
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("submissions made during a sync share the next one, and are reported durable in order") {
  TestLog t;
  auto log = t.open_ok();
  Reports reports;
  reports.hold_first = true;
  LogWriter writer(*log, reports.callback());
  std::uint64_t first = writer.submit(nullptr, std::vector<Entry>{entry(1, "one")}).sequence;
  reports.wait_for(1);  // the writer is now held inside its first report
  std::uint64_t syncs_before = log->stats().syncs;
  std::uint64_t last = 0;
  for (std::uint64_t s = 2; s <= 200; ++s) {
    HardState hs{Ballot{1, NodeId{1}}, Slot{s}, true};
    LogWriter::Submitted sub = writer.submit(&hs, std::vector<Entry>{entry(s, command_for(s, 30))});
    REQUIRE(sub.ok());
    CHECK(sub.sequence > last);
    last = sub.sequence;
  }
  reports.release();
  REQUIRE(writer.flush() == Status::ok);
  CHECK(log->stats().syncs == syncs_before + 1);  // 199 submissions, one fdatasync
  // flush() returns once the sync is done; its report may still be on the
  // way (the writer calls back after publishing durability).
  reports.wait_for(2);
  std::lock_guard lock(reports.mutex);
  CHECK(reports.durable.front() >= first);
  CHECK(reports.durable.back() >= last);
  CHECK(std::is_sorted(reports.durable.begin(), reports.durable.end()));
  for (Status st : reports.statuses) CHECK(st == Status::ok);
}

TEST_CASE("stopping the writer makes everything submitted durable") {
  TestLog t;
  {
    auto log = t.open_ok();
    LogWriter writer(*log, nullptr);
    for (std::uint64_t s = 1; s <= 100; ++s)
      writer.submit(nullptr, std::vector<Entry>{entry(s, "x")});
    writer.stop();
    CHECK(log->durable_sequence() == log->saved_sequence());
  }
  t.fs.crash();
  CHECK(t.open_ok()->entries().size() == 100);
}

TEST_CASE("a failed sync reaches the callback once and later submissions are refused") {
  TestLog t;
  auto log = t.open_ok();
  Reports reports;
  LogWriter writer(*log, reports.callback());
  REQUIRE(writer.submit(nullptr, std::vector<Entry>{entry(1, "a")}).ok());
  REQUIRE(writer.flush() == Status::ok);
  t.fs.fail(FsOp::sync_data, EIO);
  REQUIRE(writer.submit(nullptr, std::vector<Entry>{entry(2, "b")}).ok());
  CHECK(writer.flush() == Status::storage_error);
  CHECK(writer.submit(nullptr, std::vector<Entry>{entry(3, "c")}).status == Status::storage_error);
  writer.stop();
  std::lock_guard lock(reports.mutex);
  REQUIRE(!reports.statuses.empty());
  CHECK(reports.statuses.back() == Status::storage_error);
  CHECK(std::count(reports.statuses.begin(), reports.statuses.end(), Status::storage_error) == 1);
}

TEST_CASE("compaction requested through the writer runs on its thread") {
  TestLog t(4096);
  auto log = t.open_ok();
  LogWriter writer(*log, nullptr);
  for (std::uint64_t s = 1; s <= 150; ++s) {
    HardState hs{Ballot{1, NodeId{1}}, Slot{s}, true};
    writer.submit(&hs, std::vector<Entry>{entry(s, command_for(s, 100))});
    if (s % 10 == 0) REQUIRE(writer.flush() == Status::ok);  // several batches, several segments
  }
  std::size_t before = log->stats().segments;
  writer.request_compaction(Slot{140});
  writer.submit(nullptr, {});
  REQUIRE(writer.flush() == Status::ok);
  writer.stop();
  CHECK(log->stats().segments < before);
  CHECK(log->entries().back().slot == Slot{150});
}

TEST_CASE("an unsynced submission wakes no sync: the next submission's sync, or stop, writes it") {
  TestLog t;
  {
    auto log = t.open_ok();
    LogWriter writer(*log, nullptr);
    REQUIRE(writer.submit(nullptr, std::vector<Entry>{entry(1, "one")}).ok());
    REQUIRE(writer.flush() == Status::ok);
    const std::uint64_t syncs = log->stats().syncs;
    const std::uint64_t durable = log->durable_sequence();
    // A leader's commit-only hard states, one after each acknowledgement.
    for (std::uint64_t s = 1; s <= 50; ++s) {
      HardState hs{Ballot{1, NodeId{1}}, Slot{s}, true};
      LogWriter::Submitted sub = writer.submit_unsynced(&hs, {});
      REQUIRE(sub.ok());
      CHECK(sub.sequence > durable);
    }
    CHECK(log->stats().syncs == syncs);  // the writer was not woken for them
    CHECK(log->durable_sequence() == durable);
    // The next synced submission carries them to the disk in its one sync.
    REQUIRE(writer.submit(nullptr, std::vector<Entry>{entry(2, "two")}).ok());
    REQUIRE(writer.flush() == Status::ok);
    CHECK(log->stats().syncs == syncs + 1);
    CHECK(log->durable_sequence() == log->saved_sequence());
    // And stop() writes what is left unsynced.
    HardState last{Ballot{1, NodeId{1}}, Slot{2}, true};
    REQUIRE(writer.submit_unsynced(&last, {}).ok());
    writer.stop();
    CHECK(log->durable_sequence() == log->saved_sequence());
  }
  t.fs.crash();
  auto reopened = t.open_ok();
  CHECK(reopened->entries().size() == 2);
  CHECK(reopened->hard_state().commit == Slot{2});
}

TEST_CASE("flush() syncs unsynced submissions too") {
  TestLog t;
  auto log = t.open_ok();
  LogWriter writer(*log, nullptr);
  HardState hs{Ballot{1, NodeId{1}}, Slot{0}, true};
  LogWriter::Submitted sub = writer.submit_unsynced(&hs, {});
  REQUIRE(sub.ok());
  REQUIRE(writer.flush() == Status::ok);
  CHECK(log->durable_sequence() >= sub.sequence);
}
