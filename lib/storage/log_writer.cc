// LogWriter: one background thread turning many submissions into one sync.
// Submissions that arrive while an fdatasync runs wait for the next one; that
// is the whole batching policy: no timer, so an idle log syncs at once.
#include "synod/log_writer.h"

#include <pthread.h>

#include <algorithm>

namespace synod {

LogWriter::LogWriter(LogStorage& storage, DurableFn on_durable)
    : storage_(storage), on_durable_(std::move(on_durable)), thread_([this] { run(); }) {
  storage_.set_sync_request([this] { request_sync(); });
}

LogWriter::~LogWriter() {
  stop();
  storage_.set_sync_request(nullptr);
}

void LogWriter::request_sync() {
  std::lock_guard lock(mutex_);
  submitted_ = sync_wanted_ = std::max(submitted_, storage_.saved_sequence());
  wake_.notify_one();
}

LogWriter::Submitted LogWriter::submit(const HardState* hs, std::span<const Entry> entries) {
  return submit(nullptr, Slot{}, hs, entries);
}

LogWriter::Submitted LogWriter::submit(const Snapshot* snap, Slot keep_from, const HardState* hs,
                                       std::span<const Entry> entries) {
  std::lock_guard lock(mutex_);
  Status st = storage_.save_ready(snap, keep_from, hs, entries);
  if (st != Status::ok) return {st, 0};
  submitted_ = sync_wanted_ = storage_.saved_sequence();
  wake_.notify_one();
  return {Status::ok, submitted_};
}

LogWriter::Submitted LogWriter::submit_unsynced(const HardState* hs,
                                                std::span<const Entry> entries) {
  std::lock_guard lock(mutex_);
  Status st = storage_.save_ready(nullptr, Slot{}, hs, entries);
  if (st != Status::ok) return {st, 0};
  submitted_ = storage_.saved_sequence();
  return {Status::ok, submitted_};
}

Status LogWriter::sync_here(const HardState* hs, std::span<const Entry> entries, bool* synced) {
  *synced = false;
  {
    std::lock_guard lock(mutex_);
    if (failed_ != Status::ok) return failed_;
    // The writer thread syncs or compacts only when asked, and only the
    // submitting thread asks: with nothing asked it stays out of the log
    // until this returns.
    if (sync_wanted_ > storage_.durable_sequence() || compact_below_ > compacted_below_)
      return Status::ok;
    Status st = storage_.save_ready(nullptr, Slot{}, hs, entries);
    if (st != Status::ok) return st;
    submitted_ = storage_.saved_sequence();
  }
  Status st = storage_.sync();
  std::lock_guard lock(mutex_);
  if (st != Status::ok) {
    failed_ = st;
    done_.notify_all();
    return st;
  }
  *synced = true;
  done_.notify_all();  // a flush() waiting elsewhere sees it durable
  return Status::ok;
}

void LogWriter::request_compaction(Slot below) {
  std::lock_guard lock(mutex_);
  if (below > compact_below_) compact_below_ = below;
  wake_.notify_one();
}

Status LogWriter::flush() {
  std::unique_lock lock(mutex_);
  std::uint64_t target = submitted_;
  sync_wanted_ = submitted_;
  wake_.notify_one();
  done_.wait(lock, [&] {
    return storage_.durable_sequence() >= target || failed_ != Status::ok || exited_;
  });
  if (failed_ != Status::ok) return failed_;
  return storage_.durable_sequence() >= target ? Status::ok : storage_.status();
}

void LogWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

// Unsynced submissions alone are no work, except when stopping: stop()
// writes everything.
bool LogWriter::has_work() const {
  const std::uint64_t due = stopping_ ? submitted_ : sync_wanted_;
  return due > storage_.durable_sequence() || compact_below_ > compacted_below_;
}

void LogWriter::run() {
  // Named so that per-thread CPU (/proc/PID/task/*/stat, top -H, perf) tells
  // the log writer from the loop thread (docs/benchmarks.md).
  pthread_setname_np(pthread_self(), "synod-log");
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || has_work(); });
    if (!has_work()) break;  // stopping, and everything submitted is durable
    Slot below = compact_below_;
    bool compact = below > compacted_below_;
    lock.unlock();
    Status st = storage_.sync();
    if (st == Status::ok && compact) st = storage_.compact(below);
    if (on_durable_) on_durable_(storage_.durable_sequence(), st);
    lock.lock();
    if (compact) compacted_below_ = below;
    if (st != Status::ok) failed_ = st;
    done_.notify_all();
    if (failed_ != Status::ok) break;
  }
  exited_ = true;
  done_.notify_all();
}

}  // namespace synod
