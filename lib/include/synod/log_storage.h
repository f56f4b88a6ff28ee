// The durable Storage: a write-ahead log of CRC32C-checked records in segment
// files, with group commit, crash recovery, snapshots and compaction.
// docs/storage.md describes the format, the recovery rules and how a host
// uses it.
//
//   auto opened = LogStorage::open("/var/lib/app/log", LogOptions{});
//   if (!opened.ok()) { log(opened.error); exit(1); }      // corrupt, locked, ...
//   Replica replica(config, *opened.storage);                // reads it once
//   ... per Ready: storage.save(hs, entries); if (rd.must_sync) storage.sync();
//
// or, so the loop never waits for the disk, a LogWriter (synod/log_writer.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "synod/file_system.h"
#include "synod/storage.h"

namespace synod {

namespace storage {
class SegmentLog;
struct StagedWrite;
struct Removal;
}  // namespace storage

enum class Preallocation : std::uint8_t {
  // Files grow as records are appended.
  none = 0,
  // fallocate each new segment to its full size: no block allocation on the
  // append path, and a disk too full for a segment fails at the roll.
  allocate = 1,
  // Write zeros over each new segment: appends then overwrite initialised
  // blocks, so fdatasync needs no extent conversion (nor, on ext4, a write
  // of the inode). Each next segment is zeroed ahead, on a thread of the
  // log's own; a roll that finds it not ready yet fallocates
  // (LogStats::spares_missed), and so does the first segment, and the log
  // moves on from a fallocated segment to the spare as soon as it is ready
  // (a spare not ready at its roll is kept for that). A restart appends to
  // its last segment until it is full if that was zeroed ahead (its header
  // says so). One spare segment file stays on disk besides the log.
  write_zeros = 2,
};

struct LogOptions {
  // A segment rolls when the next batch would take it past this size (a
  // single batch larger than this gets a segment of its own). Compaction
  // drops whole segments, so this is also its granularity.
  std::uint64_t segment_bytes = 64u << 20;
  Preallocation preallocation = Preallocation::allocate;
  // An entry whose value encodes to more bytes than this is refused by
  // save() with too_large. At most 1 GiB (a format limit).
  std::uint32_t record_bytes_max = 64u << 20;
  // Snapshots written behind the log: a snapshot the host took itself
  // (Replica::compact; the staged hard state's commit is at or above its
  // slot, so every entry it covers is in the log already) is written
  // (paced), synced and renamed on a thread of the storage's own
  // ("synod-snap"), which then asks for the sync that writes its record
  // (set_sync_request); until then the log keeps every segment below it, and
  // a crash recovers the previous snapshot and those entries. The old
  // snapshot file and the segments compaction drops are removed on that
  // thread too. Why: inline, a 28 MB image held the log's next sync behind
  // its write, fdatasync, directory sync and the removals, 80-100 ms on every
  // replica at once (they snapshot at the same slot), and the cluster
  // committed nothing meanwhile (docs/storage.md, "Snapshots behind the
  // log"). A snapshot received from a peer (its slot above the commit index)
  // is written inline as before: the entries it replaces are not in the log.
  // Off by default: sync() then writes every snapshot.
  bool snapshots_behind = false;
  // Needs Preallocation::write_zeros. A segment compaction drops is not
  // removed but kept (renamed) as the spare for a later roll, up to two at
  // a time, as PostgreSQL recycles WAL segments: its blocks are written
  // already, so the log neither zeroes a new file nor unlinks the old one
  // (on the benchmark machine about a tenth of a synod-kv follower's CPU,
  // docs/storage.md "Recycled segments"). Past its last batch such a
  // segment holds the older segment's records, which recovery tells apart
  // by their batch numbers; its header has format version 2, which earlier
  // releases refuse to open. Off by default, so that a log can still be
  // opened after going back to the previous release; the next release
  // turns it on.
  bool recycle_segments = false;
  // Create the directory (not its parents) when missing.
  bool create_if_missing = true;
  // nullptr: the real file system. Not owned; must outlive the storage.
  FileSystem* file_system = nullptr;

  // ok, or invalid_config with *why naming the setting.
  Status validate(std::string* why) const;
};

// What recovery found and did; hosts should log it.
struct RecoveryReport {
  std::size_t segments = 0;            // segment files read
  std::size_t records = 0;             // valid records kept (segment headers included)
  std::uint64_t last_batch = 0;        // the last complete batch kept
  std::size_t temp_files_removed = 0;  // half-created segments
  // Snapshot files no record names (a crash before the record, or the
  // removal of a superseded one undone by a crash), and their temporaries.
  std::size_t snapshot_files_removed = 0;
  // Set when a torn or incomplete tail was cut off the last segment: the
  // file, the offset it was cut at, and the bytes (up to the end of written
  // data) that were dropped. Empty when the log ended cleanly.
  std::string truncated_file;
  std::uint64_t truncated_at_offset = 0;
  std::string truncation_reason;
};

// Where the next record goes: the active segment and the byte offset in it.
struct LogPosition {
  std::uint64_t segment_seq = 0;
  std::string segment_path;
  std::uint64_t offset = 0;
};

struct LogStats {
  std::uint64_t syncs = 0;          // fdatasync calls made for batches
  std::uint64_t batches = 0;        // batches written (one per sync with data)
  std::uint64_t records = 0;        // records written
  std::uint64_t bytes_written = 0;  // record bytes written
  std::uint64_t segments_created = 0;
  std::uint64_t segments_removed = 0;
  std::size_t segments = 0;             // segment files now
  std::uint64_t snapshots_written = 0;  // snapshot files created
  // snapshots_behind: files written behind the log (counted in
  // snapshots_written too once their record is), and files written behind
  // that a newer snapshot superseded before their record went in (removed).
  std::uint64_t snapshots_behind = 0;
  std::uint64_t snapshots_behind_superseded = 0;
  // snapshots_behind: passes of the snapshot thread's removals (compacted
  // segments, old snapshot files) that a failed unlink stopped; the failed
  // file and those after it are tried again with the next removals (or
  // left to the next open, as a crash would leave them).
  std::uint64_t removals_failed = 0;
  // write_zeros: rolls that took a segment zeroed ahead, and rolls that
  // found none ready (and fallocated instead).
  std::uint64_t spares_taken = 0;
  std::uint64_t spares_missed = 0;
  // write_zeros: spares the spare thread zeroed and synced (with
  // recycle_segments, few once compaction keeps pace with the rolls).
  std::uint64_t spares_zeroed = 0;
  // recycle_segments: dropped segments kept as spares instead of removed
  // (counted in segments_removed too).
  std::uint64_t segments_recycled = 0;
  // write_zeros: segments left before they were full because a zeroed spare
  // was ready (a new log's first segment, one a missed spare made the roll
  // fallocate, or one recovered whose header does not say it was zeroed).
  // The rest of each stays unused until compaction drops it.
  std::uint64_t segments_left_early = 0;
};

// Threads: save(), the read side and the accessors may run on one thread (the
// host's loop) while sync() and compact() run on another (a LogWriter or the
// host's own I/O thread). Two threads must not both call save(), nor both
// sync()/compact() at once (LogWriter::sync_here syncs on the loop only
// while its writer thread has nothing asked of it). With snapshots_behind
// the storage's own snapshot thread also calls sync() when no LogWriter is
// installed (set_sync_request): sync() and compact() hold the I/O lock for
// their whole run, so that one is serialised with the host's.
class LogStorage final : public Storage {
 public:
  struct OpenResult {
    std::unique_ptr<LogStorage> storage;  // null unless status is ok
    Status status = Status::ok;
    // Why open failed: a sentence naming the file and, for corruption, the
    // byte offset. Empty when ok.
    std::string error;
    RecoveryReport report;
    bool ok() const { return status == Status::ok; }
  };

  // Opens (or creates) the log in dir and recovers it: verifies every
  // record, cuts a torn tail, refuses corruption before the tail.
  // Statuses: ok; invalid_config (bad options); corrupt (file and offset in
  // error); storage_error or no_space (an I/O call failed, or another process
  // holds the directory's lock).
  static OpenResult open(const std::string& dir, const LogOptions& options);

  ~LogStorage() override;
  LogStorage(const LogStorage&) = delete;
  LogStorage& operator=(const LogStorage&) = delete;

  // ---- Storage ----------------------------------------------------------
  // The read side reflects every save(), synced or not.
  bool empty() const override;
  HardState hard_state() const override;
  std::vector<Entry> entries() const override;
  Snapshot snapshot() const override;
  // Stages entries then the hard state (in that order on disk); no I/O.
  // Entries below the snapshot's keep_from are ignored (entries() never
  // returns one). Returns the fatal error once the log has failed, too_large
  // for an entry above record_bytes_max (nothing staged then).
  Status save(const HardState* hs, std::span<const Entry> entries) override;
  // Stages the snapshot; no I/O (the data is shared, not copied). At once
  // snapshot() returns it and entries() drops every entry below keep_from.
  // invalid_argument (nothing staged, not fatal) unless snap.meta.slot is
  // above the last saved snapshot's and keep_from <= snap.meta.slot + 1.
  // The next sync() writes the file, then the record that switches to it;
  // once that batch is durable it removes the previous snapshot file and
  // compacts below keep_from (compact()). Staging a second snapshot before a
  // sync replaces the first: only the last is written.
  Status save_snapshot(const Snapshot& snap, Slot keep_from) override;
  // One Ready in one save (one sequence number): the snapshot (if non-null),
  // then the entries and the hard state, as save_snapshot() and save() say.
  // Checks everything before staging anything: an error stages nothing.
  Status save_ready(const Snapshot* snap, Slot keep_from, const HardState* hs,
                    std::span<const Entry> entries);
  // Writes every staged record as one batch and fdatasyncs it: many saves,
  // one sync (group commit). ok with nothing staged. An error (storage_error,
  // no_space) is fatal: every later save/sync returns it; what was synced
  // before stays intact, and a restart after the cause is fixed recovers.
  // With a staged snapshot: the file (written and made durable first), the
  // batch with its record, then the old file's removal and a compaction
  // below keep_from (a second batch and fdatasync when it drops something).
  // With LogOptions::snapshots_behind, the host's own snapshot's file is
  // written on the storage's thread instead, and its record goes with the
  // first sync() after the file is durable.
  Status sync() override;
  // snapshots_behind: how the storage asks for the sync that makes the
  // record of a snapshot written behind durable. LogWriter installs one
  // (its thread then syncs, and reports durability as for any sync); with
  // none the snapshot thread calls sync() itself. Null uninstalls.
  void set_sync_request(std::function<void()> request);

  // ---- group commit -------------------------------------------------------
  // Each save() gets the next sequence number; sync() makes every sequence
  // up to the one current when it started durable.
  std::uint64_t saved_sequence() const;
  std::uint64_t durable_sequence() const { return durable_sequence_.load(); }

  // ---- compaction ---------------------------------------------------------
  // Drops the oldest segments whose entries all lie below `below` (the
  // host's snapshot point), never the active one, and forgets their entries.
  // Entries below `below` in kept segments stay (whole segments only). Before
  // any file goes, one synced batch records `below` (compacted_below()) and
  // rewrites into the active segment the latest hard state record and the
  // latest snapshot record if theirs is in a dropped segment. Dropping
  // nothing writes nothing. Errors are fatal as for sync(). sync() calls it
  // itself after a snapshot.
  Status compact(Slot below);
  // The highest `below` of a compaction that dropped something, recovered
  // across restarts; Slot{0} if none. Entries below it may be missing.
  Slot compacted_below() const;

  // ---- inspection ---------------------------------------------------------
  // ok until an I/O error; then that error for ever (with error()).
  Status status() const;
  std::string error() const;
  LogPosition end() const;
  LogStats stats() const;
  const std::string& dir() const { return dir_; }

 private:
  struct Indexed {
    Entry entry;
    // Save sequence of the record holding this entry (for recovered ones,
    // its batch number): compaction forgets entries whose last record sits
    // in a dropped segment.
    std::uint64_t sequence = 0;
  };

  LogStorage(std::string dir, const LogOptions& options);
  // Writes the staged batch. *snapshot_floor gets the keep_from of a
  // snapshot it wrote (else it is left alone).
  Status sync_locked(Slot* snapshot_floor);
  // compact() with io_mutex_ held; *snapshot_floor as for sync_locked.
  Status compact_locked(Slot below, Slot* snapshot_floor);
  Status fail(const IoStatus& io);
  // snapshots_behind: the thread that writes the host's own snapshots.
  void write_behind();
  void stop_behind();
  // Unstages every staged snapshot write (a newer one supersedes them),
  // removing the files of those written behind. With stage_mutex_ held.
  void drop_staged_snapshots();
  // snapshots_behind: files the snapshot thread removes, in order (starts
  // it if need be).
  void queue_removals(std::vector<storage::Removal> paths);
  // Removes the queued files (after those a failure held back), stopping at
  // the first that fails; `lock` holds behind_mutex_ and is released
  // meanwhile.
  void remove_queued(std::unique_lock<std::mutex>& lock);

  std::string dir_;
  LogOptions options_;
  FileSystem* fs_ = nullptr;
  std::unique_ptr<FileLock> lock_;

  // snapshots_behind: the latest own snapshot not yet written (its
  // keep_from), for the thread. Lock order: stage_mutex_ before behind_mutex_.
  struct BehindJob {
    Snapshot snapshot;
    Slot keep_from;
    std::chrono::nanoseconds spread;  // write pacing (snapshot_store.h)
  };
  static constexpr std::chrono::seconds kBehindSpreadMax{1};
  std::chrono::steady_clock::time_point behind_handed_{};  // the last job's, under behind_mutex_
  mutable std::mutex behind_mutex_;
  std::condition_variable behind_wake_;
  std::optional<BehindJob> behind_wanted_;
  // Superseded snapshots, dropped segments (a recyclable one offered to the
  // log's recycling first).
  std::vector<storage::Removal> behind_removals_;
  // Removals a failure stopped, in order, tried again before the next ones.
  std::vector<storage::Removal> behind_retry_;
  std::uint64_t behind_removals_failed_ = 0;  // under behind_mutex_
  bool behind_stopping_ = false;
  std::thread behind_thread_;                                 // started at the first own snapshot
  std::uint64_t behind_written_ = 0, behind_superseded_ = 0;  // under stage_mutex_
  // Called with no other lock of this storage held (LogWriter's submit
  // takes its own lock, then stage_mutex_, then behind_mutex_).
  std::mutex request_mutex_;
  std::function<void()> sync_request_;

  // Serialises sync() and compact(): the file side.
  mutable std::mutex io_mutex_;
  std::unique_ptr<storage::SegmentLog> segments_;  // guarded by io_mutex_

  // Guards everything below: the staged writes and the read side.
  mutable std::mutex stage_mutex_;
  std::vector<storage::StagedWrite> staged_;
  // Invariant: sequence of the last save(); staged_ holds those above the
  // last sync's.
  std::uint64_t saved_sequence_ = 0;
  bool written_ = false;  // a hard state or entry was ever saved
  HardState hard_{};
  // Invariant: never decreases; durable before the segments it allowed to go.
  Slot compacted_below_{};
  // The last snapshot saved (staged or durable); empty() when none.
  Snapshot snapshot_;
  // Invariant: never decreases; the highest keep_from saved, its snapshot's
  // record staged or not yet (one written behind is staged later). No entry
  // below it is indexed or staged (Storage::entries).
  Slot forgotten_below_{};
  // Invariant: never decreases, at most forgotten_below_; the keep_from of
  // the last snapshot record staged.
  Slot keep_from_{};
  std::map<std::uint64_t, Indexed> entries_;  // by slot
  // Invariant: ok until the first I/O error, then that error for ever.
  Status failed_ = Status::ok;
  std::string error_;

  // Invariant: never decreases; every save with a sequence up to it is durable.
  std::atomic<std::uint64_t> durable_sequence_{0};
};

}  // namespace synod
