// LogStorage: the Storage interface over the segment log, with an in-memory
// index for the read side and a staging area for group commit.
#include "synod/log_storage.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "../core/assert.h"
#include "log_recovery.h"
#include "record_format.h"
#include "segment_log.h"
#include "snapshot_store.h"

namespace synod {

using storage::SegmentLog;
using storage::StagedWrite;

Status LogOptions::validate(std::string* why) const {
  auto bad = [&](std::string text) {
    if (why) *why = std::move(text);
    return Status::invalid_config;
  };
  if (segment_bytes < 4096) return bad("segment_bytes must be at least 4096");
  if (record_bytes_max == 0 || record_bytes_max > storage::kRecordPayloadBytesLimit)
    return bad("record_bytes_max must be in [1, 1 GiB]");
  if (preallocation > Preallocation::write_zeros) return bad("preallocation is not a known mode");
  if (recycle_segments && preallocation != Preallocation::write_zeros)
    return bad("recycle_segments needs preallocation write_zeros (its spare thread)");
  return Status::ok;
}

LogStorage::LogStorage(std::string dir, const LogOptions& options)
    : dir_(std::move(dir)), options_(options) {}

LogStorage::~LogStorage() { stop_behind(); }

namespace {

// Creates dir if asked, durably (the parent's entry is synced), and locks it.
IoStatus prepare_dir(FileSystem& fs, const std::string& dir, const LogOptions& options,
                     std::unique_ptr<FileLock>* lock) {
  if (options.create_if_missing) {
    bool created = false;
    if (IoStatus st = fs.make_dir(dir, &created); !st.ok()) return st;
    if (created) {
      if (IoStatus st = fs.sync_dir(parent_dir(dir)); !st.ok()) return st;
    }
  }
  return fs.lock(join_path(dir, storage::kLockFileName), lock);
}

}  // namespace

LogStorage::OpenResult LogStorage::open(const std::string& dir, const LogOptions& options) {
  OpenResult result;
  std::string why;
  if (options.validate(&why) != Status::ok) {
    result.status = Status::invalid_config;
    result.error = std::move(why);
    return result;
  }
  FileSystem& fs = options.file_system ? *options.file_system : posix_file_system();
  auto failed = [&](IoStatus io) {
    result.status = io.status;
    result.error = std::move(io.message);
    return std::move(result);
  };
  std::unique_ptr<FileLock> lock;
  if (IoStatus st = prepare_dir(fs, dir, options, &lock); !st.ok()) return failed(std::move(st));

  storage::RecoveredLog rec = storage::recover_log(fs, dir, options);
  result.report = rec.report;
  if (!rec.status.ok()) return failed(std::move(rec.status));
  Snapshot snapshot;
  if (IoStatus st = storage::recover_snapshot(fs, dir, rec.snapshot, &snapshot,
                                              &result.report.snapshot_files_removed);
      !st.ok())
    return failed(std::move(st));

  std::unique_ptr<LogStorage> log(new LogStorage(dir, options));
  log->fs_ = &fs;
  log->lock_ = std::move(lock);
  log->segments_ = std::make_unique<SegmentLog>(fs, dir, options);
  if (rec.segments.empty()) {
    if (IoStatus st = log->segments_->start(); !st.ok()) return failed(std::move(st));
  } else {
    log->segments_->adopt(std::move(rec.segments), std::move(rec.active), rec.active_end,
                          rec.last_batch, rec.hard_state_segment, rec.snapshot,
                          rec.snapshot_segment, rec.active_prewritten);
  }
  log->written_ = rec.written;
  log->hard_ = rec.hard;
  log->compacted_below_ = rec.compacted_below;
  // recover_snapshot loaded the file its record names, and checked it.
  SYNOD_ASSERT(!rec.snapshot || snapshot.meta.slot == rec.snapshot->slot,
               "{}: snapshot file of slot {} for a record of slot {}", dir,
               snapshot.meta.slot.value, rec.snapshot ? rec.snapshot->slot.value : 0);
  log->snapshot_ = std::move(snapshot);
  if (rec.snapshot) log->keep_from_ = rec.snapshot->keep_from;
  log->forgotten_below_ = log->keep_from_;
  for (auto& [slot, r] : rec.entries) {
    // The snapshot record forgot these, wherever they sit in the log.
    if (slot < log->keep_from_.value) continue;
    log->entries_.emplace(slot, Indexed{std::move(r.entry), r.batch});
  }
  // Save sequences continue above every recovered batch number, so that
  // segments' last_sequence keeps increasing (compaction relies on it).
  log->saved_sequence_ = log->segments_->last_batch();
  log->durable_sequence_.store(log->saved_sequence_);
  result.storage = std::move(log);
  return result;
}

bool LogStorage::empty() const {
  std::lock_guard lock(stage_mutex_);
  return !written_;
}

HardState LogStorage::hard_state() const {
  std::lock_guard lock(stage_mutex_);
  return hard_;
}

std::vector<Entry> LogStorage::entries() const {
  std::lock_guard lock(stage_mutex_);
  std::vector<Entry> out;
  out.reserve(entries_.size());
  for (const auto& [slot, e] : entries_) out.push_back(e.entry);
  return out;
}

Snapshot LogStorage::snapshot() const {
  std::lock_guard lock(stage_mutex_);
  return snapshot_;
}

Status LogStorage::save(const HardState* hs, std::span<const Entry> entries) {
  return save_ready(nullptr, Slot{}, hs, entries);
}

Status LogStorage::save_snapshot(const Snapshot& snap, Slot keep_from) {
  return save_ready(&snap, keep_from, nullptr, {});
}

Status LogStorage::save_ready(const Snapshot* snap, Slot keep_from, const HardState* hs,
                              std::span<const Entry> entries) {
  for (const Entry& e : entries) {
    if (storage::entry_record_bytes(e) - storage::kRecordHeaderBytes > options_.record_bytes_max)
      return Status::too_large;
  }
  std::lock_guard lock(stage_mutex_);
  if (failed_ != Status::ok) return failed_;
  if (snap &&
      (snap->meta.slot <= snapshot_.meta.slot || keep_from > snap->meta.slot.next() || !snap->data))
    return Status::invalid_argument;
  std::uint64_t seq = ++saved_sequence_;
  // The host's own snapshot: the staged commit index covers it, so the log
  // holds every entry it summarises (a peer's snapshot is above it).
  if (snap && options_.snapshots_behind && snap->meta.slot <= hard_.commit) {
    snapshot_ = *snap;
    // Forgotten now, as inline: a later save below it is not staged.
    forgotten_below_ = std::max(forgotten_below_, keep_from);
    entries_.erase(entries_.begin(), entries_.lower_bound(forgotten_below_.value));
    written_ = true;
    std::lock_guard behind(behind_mutex_);
    auto now = std::chrono::steady_clock::now();
    std::chrono::nanoseconds spread{};
    if (behind_handed_ != std::chrono::steady_clock::time_point{})
      spread = std::min<std::chrono::nanoseconds>((now - behind_handed_) / 2, kBehindSpreadMax);
    behind_handed_ = now;
    behind_wanted_ = BehindJob{*snap, keep_from, spread};  // replaces one not yet begun
    if (!behind_thread_.joinable()) behind_thread_ = std::thread([this] { write_behind(); });
    behind_wake_.notify_all();
    snap = nullptr;
  }
  if (snap) {
    // The record carries the highest keep_from so far (a snapshot's being
    // written behind included: this one, above it, covers what it forgot),
    // so the last record alone tells recovery which entries are forgotten.
    forgotten_below_ = std::max(forgotten_below_, keep_from);
    keep_from_ = forgotten_below_;
    // One snapshot per batch: a staged one not yet written is superseded
    // (its file need never exist), as is a staged rewrite of an older one.
    // Appended at the end, so that staged sequences stay ascending.
    drop_staged_snapshots();
    staged_.push_back(StagedWrite::of_snapshot(seq, *snap, keep_from_));
    snapshot_ = *snap;
    entries_.erase(entries_.begin(), entries_.lower_bound(keep_from_.value));
    written_ = true;
  }
  // Entries before the hard state: a torn batch is dropped whole anyway, but
  // this order matches MemoryStorage and what the core expects of a prefix.
  for (const Entry& e : entries) {
    if (e.slot < forgotten_below_) continue;  // forgotten for good (Storage::entries)
    staged_.push_back(StagedWrite::of_entry(seq, e));
    entries_[e.slot.value] = Indexed{e, seq};
  }
  if (hs) {
    staged_.push_back(StagedWrite::of_hard_state(seq, *hs));
    hard_ = *hs;
  }
  if (hs || !entries.empty()) written_ = true;
  return Status::ok;
}

Status LogStorage::sync() {
  std::lock_guard io(io_mutex_);
  Slot floor{};
  Status st = sync_locked(&floor);
  // After a snapshot's batch is durable, the segments below its keep_from
  // go. Repeats only if another snapshot was staged meanwhile.
  while (st == Status::ok && floor != Slot{}) {
    Slot below = floor;
    floor = Slot{};
    st = compact_locked(below, &floor);
  }
  return st;
}

Status LogStorage::sync_locked(Slot* snapshot_floor) {
  std::vector<StagedWrite> batch;
  std::uint64_t upto = 0;
  {
    std::lock_guard lock(stage_mutex_);
    if (failed_ != Status::ok) return failed_;
    batch.swap(staged_);
    upto = saved_sequence_;
  }
  if (!batch.empty()) {
    if (IoStatus st = segments_->append_batch(batch); !st.ok()) return fail(st);
    queue_removals(segments_->take_stale_snapshots());
    for (const StagedWrite& w : batch)
      if (w.kind == StagedWrite::Kind::snapshot && !w.rewrite)
        *snapshot_floor = w.snapshot_record.keep_from;
  }
  durable_sequence_.store(upto);
  return Status::ok;
}

Status LogStorage::fail(const IoStatus& io) {
  std::lock_guard lock(stage_mutex_);
  if (failed_ == Status::ok) {
    failed_ = io.status;
    error_ = io.message;
  }
  return failed_;
}

Status LogStorage::compact(Slot below) {
  std::lock_guard io(io_mutex_);
  Slot floor{};
  return compact_locked(below, &floor);
}

Status LogStorage::compact_locked(Slot below, Slot* snapshot_floor) {
  {
    std::lock_guard lock(stage_mutex_);
    if (failed_ != Status::ok) return failed_;
  }
  // Behind the log, a snapshot saved is not yet one recovery would find:
  // never drop entries the last durable snapshot record does not cover.
  if (options_.snapshots_behind) {
    const std::optional<storage::SnapshotRecord>& durable = segments_->last_snapshot();
    below = std::min(below, durable ? durable->keep_from : Slot{});
  }
  std::size_t drop = segments_->droppable(below);
  if (drop == 0) return Status::ok;
  {
    // Durably, before any file goes: the compaction point (the latest one is
    // thereby never in a dropped segment), and the latest hard state and
    // snapshot records if theirs are in one.
    std::lock_guard lock(stage_mutex_);
    std::uint64_t seq = ++saved_sequence_;
    if (segments_->hard_state_within(drop))
      staged_.push_back(StagedWrite::of_hard_state(seq, hard_));
    // A staged new snapshot supersedes the record on disk: no rewrite then
    // (and save_ready drops this rewrite if one comes before the sync).
    bool snapshot_staged = std::any_of(staged_.begin(), staged_.end(), [](const StagedWrite& w) {
      return w.kind == StagedWrite::Kind::snapshot;
    });
    if (segments_->snapshot_within(drop) && !snapshot_staged)
      staged_.push_back(StagedWrite::of_snapshot_rewrite(seq, *segments_->last_snapshot()));
    compacted_below_ = std::max(compacted_below_, below);
    staged_.push_back(StagedWrite::of_compaction(seq, compacted_below_));
  }
  if (Status st = sync_locked(snapshot_floor); st != Status::ok) return st;
  std::uint64_t dropped_upto = segments_->last_sequence_within(drop);
  if (options_.snapshots_behind) {
    // Unlinking 64 MiB segments took 40-60 ms each on a busy disk, in front
    // of the next batch: the snapshot thread removes them instead.
    queue_removals(segments_->detach_oldest(drop));
  } else if (IoStatus st = segments_->drop_oldest(drop); !st.ok()) {
    return fail(st);
  }
  std::lock_guard lock(stage_mutex_);
  std::erase_if(entries_, [&](const auto& kv) { return kv.second.sequence <= dropped_upto; });
  return Status::ok;
}

Slot LogStorage::compacted_below() const {
  std::lock_guard lock(stage_mutex_);
  return compacted_below_;
}

std::uint64_t LogStorage::saved_sequence() const {
  std::lock_guard lock(stage_mutex_);
  return saved_sequence_;
}

Status LogStorage::status() const {
  std::lock_guard lock(stage_mutex_);
  return failed_;
}

std::string LogStorage::error() const {
  std::lock_guard lock(stage_mutex_);
  return error_;
}

LogPosition LogStorage::end() const {
  std::lock_guard io(io_mutex_);
  return segments_->end();
}

LogStats LogStorage::stats() const {
  std::lock_guard io(io_mutex_);
  LogStats st = segments_->stats();
  std::lock_guard lock(stage_mutex_);
  st.snapshots_behind = behind_written_;
  st.snapshots_behind_superseded = behind_superseded_;
  std::lock_guard behind(behind_mutex_);  // after stage_mutex_, as everywhere
  st.removals_failed = behind_removals_failed_;
  return st;
}

}  // namespace synod
