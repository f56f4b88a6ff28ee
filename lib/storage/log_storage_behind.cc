// LogStorage's snapshot thread (LogOptions::snapshots_behind): writes the
// host's own snapshots behind the log, paced, stages their records and asks
// for the sync that makes them durable, and removes superseded snapshot
// files and compacted segments off the sync path (docs/storage.md,
// "Snapshots behind the log").
#include <pthread.h>

#include <algorithm>
#include <utility>

#include "log_state.h"
#include "segment_log.h"
#include "segment_spare.h"
#include "snapshot_format.h"
#include "snapshot_store.h"
#include "synod/log_storage.h"

namespace synod {

using storage::StagedWrite;

void LogStorage::drop_staged_snapshots() {
  for (const StagedWrite& w : staged_)
    if (w.kind == StagedWrite::Kind::snapshot && w.file_written)  // no record will name it
      (void)fs_->remove(join_path(dir_, storage::snapshot_file_name(w.snapshot_record.slot)));
  std::erase_if(staged_,
                [](const StagedWrite& w) { return w.kind == StagedWrite::Kind::snapshot; });
}

void LogStorage::write_behind() {
  pthread_setname_np(pthread_self(), "synod-snap");  // for top and kv_bench --threads
  std::unique_lock lock(behind_mutex_);
  while (true) {
    behind_wake_.wait(lock, [&] {
      return behind_stopping_ || behind_wanted_.has_value() || !behind_removals_.empty();
    });
    if (behind_stopping_) return;  // files left are orphans the next open removes
    if (!behind_removals_.empty()) {
      remove_queued(lock);
      continue;
    }
    BehindJob job = std::move(*behind_wanted_);
    behind_wanted_.reset();
    lock.unlock();
    const Slot slot = job.snapshot.meta.slot;
    storage::SnapshotRecord r{slot, job.snapshot.meta.ballot, job.keep_from, 0, 0};
    // Paced over half the time since the snapshot before was handed over,
    // so that it is written well before the next; a newer one waiting, or
    // the log closing, ends the pacing (the second abandons the write).
    storage::SnapshotPacing pacing;
    pacing.spread = job.spread;
    // Removals queued meanwhile go at once, not after the write: compaction
    // must not wait out the pacing.
    pacing.wait = [this](std::chrono::steady_clock::time_point due) {
      std::unique_lock wait(behind_mutex_);
      while (behind_wake_.wait_until(wait, due, [&] {
        return behind_stopping_ || behind_wanted_.has_value() || !behind_removals_.empty();
      })) {
        if (behind_stopping_ || behind_wanted_.has_value()) break;
        remove_queued(wait);
      }
      return !behind_stopping_;
    };
    bool abandoned = false;
    IoStatus st =
        storage::write_snapshot_file_paced(*fs_, dir_, job.snapshot, &r, pacing, &abandoned);
    if (abandoned) {
      lock.lock();
      continue;
    }
    bool superseded = false, staged = false;
    {
      std::lock_guard stage(stage_mutex_);
      if (st.ok() && (failed_ != Status::ok || snapshot_.meta.slot != slot)) {
        // A newer snapshot was saved meanwhile (its own file follows), or a
        // peer's was installed: no record will name this one.
        superseded = true;
        ++behind_superseded_;
      } else if (st.ok()) {
        // Its own save, after every entry it covers; the record carries the
        // highest keep_from so far, as save_ready's do (this snapshot is the
        // last saved, so that is at most its slot + 1).
        std::uint64_t seq = ++saved_sequence_;
        keep_from_ = forgotten_below_;
        r.keep_from = keep_from_;
        drop_staged_snapshots();
        staged_.push_back(StagedWrite::of_snapshot_written(seq, r));
        ++behind_written_;
        staged = true;
      }
    }
    if (superseded) (void)fs_->remove(join_path(dir_, storage::snapshot_file_name(slot)));
    // Fatal, as the same write inside sync() would have been: the next save
    // or sync returns it and the host stops.
    if (!st.ok()) (void)fail(st);
    // A log that goes idle right after a snapshot would otherwise hold the
    // record staged for ever (and both files on disk).
    if (staged) {
      std::lock_guard req(request_mutex_);
      if (sync_request_)
        sync_request_();
      else
        (void)sync();  // an error is the log's, returned to the host's next call
    }
    lock.lock();
  }
}

void LogStorage::remove_queued(std::unique_lock<std::mutex>& lock) {
  // Those a failure held back first: they are older than anything queued
  // since.
  std::vector<storage::Removal> paths = std::exchange(behind_retry_, {});
  for (storage::Removal& r : behind_removals_) paths.push_back(std::move(r));
  behind_removals_.clear();
  lock.unlock();
  // In order, oldest first, and the first failure stops them: what is left
  // is then what a crash part way through would leave (an orphan snapshot
  // file, or the oldest segments below the compaction point), which the
  // next open removes or reads past. A later segment removed past a failed
  // one would leave a gap in the segment numbers, which recovery rightly
  // calls corruption. The rest wait for the next removals queued.
  // A recycled segment leaves by a rename instead, in the same order.
  storage::SegmentSpare* recycler = segments_->recycler();
  auto gone = [&](const storage::Removal& r) {
    if (r.recycle_seq != 0 && recycler && recycler->recycle(r.path, r.recycle_seq)) return true;
    return fs_->remove(r.path).ok();
  };
  std::size_t done = 0;
  while (done < paths.size() && gone(paths[done])) ++done;
  lock.lock();
  if (done == paths.size()) return;
  ++behind_removals_failed_;
  paths.erase(paths.begin(), paths.begin() + static_cast<std::ptrdiff_t>(done));
  behind_retry_ = std::move(paths);
}

void LogStorage::queue_removals(std::vector<storage::Removal> paths) {
  if (paths.empty()) return;
  std::lock_guard behind(behind_mutex_);
  for (storage::Removal& r : paths) behind_removals_.push_back(std::move(r));
  if (!behind_thread_.joinable()) behind_thread_ = std::thread([this] { write_behind(); });
  behind_wake_.notify_all();
}

void LogStorage::set_sync_request(std::function<void()> request) {
  std::lock_guard req(request_mutex_);
  sync_request_ = std::move(request);
}

void LogStorage::stop_behind() {
  {
    std::lock_guard lock(behind_mutex_);
    behind_stopping_ = true;
    behind_wake_.notify_all();
  }
  // Waits for a write in progress; a file no record names yet is removed
  // by the next open's recovery.
  if (behind_thread_.joinable()) behind_thread_.join();
}

}  // namespace synod
