// One durable log for many Paxos groups: every group's hard state, entries
// and snapshot records go, tagged by group, into one segment log, so a
// process with thousands of groups keeps a handful of files and descriptors
// and pays one fdatasync per sync() whatever the number of groups.
// docs/storage.md ("Many groups in one log") describes the format, recovery
// and compaction.
//
//   auto opened = GroupLog::open("/var/lib/app/groups", GroupLogOptions{});
//   if (!opened.ok()) { log(opened.error); exit(1); }
//   Replica a(config_a, opened.log->group(GroupId{1}));   // a Storage per group
//   Replica b(config_b, opened.log->group(GroupId{2}));
//   ... per Ready of each group: log.save_ready(id, ...); then one log.sync().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "synod/log_storage.h"
#include "synod/storage.h"

namespace synod {

namespace storage {
class SegmentLog;
struct StagedWrite;
struct GroupState;
}  // namespace storage

struct GroupLogOptions {
  // Segment size, preallocation, record limit, file system: as LogStorage.
  LogOptions log;
  // The straggler rule. Normally a segment goes once no group has a live
  // entry in it. When more than straggler_segments segments (the active one
  // aside) are kept and the oldest is pinned by at most straggler_groups
  // groups with less than half a segment of live entries in it, those entries
  // are rewritten at the head of the log and it goes: one idle group cannot
  // hold the disk.
  std::size_t straggler_segments = 8;
  std::size_t straggler_groups = 16;

  // ok, or invalid_config with *why naming the setting.
  Status validate(std::string* why) const;
};

struct GroupLogStats {
  LogStats log;                         // the segment log's counters
  std::size_t groups = 0;               // groups now
  std::uint64_t groups_removed = 0;     // remove_group() calls made durable
  std::uint64_t straggler_drops = 0;    // segments freed by rewriting stragglers' entries
  std::uint64_t entries_rewritten = 0;  // straggler entries moved to the head
  // Hard state and snapshot records moved to the head before a drop.
  std::uint64_t records_rewritten = 0;
  // Checks that found the oldest segment pinned and kept it.
  std::uint64_t compactions_blocked = 0;
};

// Threads: every call takes one mutex, so any thread may call; sync() holds
// it while writing (saves wait for the disk then).
class GroupLog {
 public:
  struct OpenResult {
    std::unique_ptr<GroupLog> log;  // null unless status is ok
    Status status = Status::ok;
    std::string error;  // file and, for corruption, offset; empty when ok
    RecoveryReport report;
    bool ok() const { return status == Status::ok; }
  };

  // Opens (or creates) the log in dir and recovers every group, with
  // LogStorage's rules: torn tail cut, corruption refused with file and
  // offset. A LogStorage directory is refused as corrupt, and vice versa.
  static OpenResult open(const std::string& dir, const GroupLogOptions& options);

  ~GroupLog();
  GroupLog(const GroupLog&) = delete;
  GroupLog& operator=(const GroupLog&) = delete;

  // The group's Storage (what it recovered, or empty), created on first use.
  // Valid until remove_group(id) or the log's destruction. Its save() and
  // save_snapshot() stage in this log; its sync() is this log's sync().
  Storage& group(GroupId id);
  bool has_group(GroupId id) const;
  std::vector<GroupId> groups() const;
  // Forgets the group (its staged writes too) and stages a record saying
  // so; the next sync() makes it durable and removes its snapshot file.
  // Invalidates the group's Storage&.
  Status remove_group(GroupId id);

  // As LogStorage::save_ready, for one group; creates it if missing.
  Status save_ready(GroupId id, const Snapshot* snap, Slot keep_from, const HardState* hs,
                    std::span<const Entry> entries);
  // Writes every group's staged records as one batch with one fdatasync
  // (plus, for each staged snapshot, its file's own), then compacts (the
  // rule above). An error is fatal, as LogStorage::sync().
  Status sync();

  Status status() const;
  std::string error() const;
  GroupLogStats stats() const;
  const std::string& dir() const { return dir_; }

 private:
  GroupLog(std::string dir, const GroupLogOptions& options, FileSystem& fs);
  storage::GroupState& state_locked(GroupId id);
  std::string snapshot_dir(GroupId id) const;
  // Orders writes by group, adds the group records and appends one batch.
  Status write_batch_locked(std::vector<storage::StagedWrite> writes);
  // Writes the staged snapshots' files; fills in their records.
  Status write_snapshot_files_locked(std::vector<storage::StagedWrite>& batch);
  // Drops the oldest segments while the rule allows (group_log_compact.cc).
  Status compact_locked();
  Status fail_locked(const IoStatus& io);

  friend struct storage::GroupState;

  std::string dir_;
  GroupLogOptions options_;
  FileSystem& fs_;
  std::unique_ptr<FileLock> lock_;
  mutable std::mutex mutex_;  // guards everything below
  std::unique_ptr<storage::SegmentLog> segments_;
  std::map<GroupId, std::unique_ptr<storage::GroupState>> groups_;
  std::vector<storage::StagedWrite> staged_;
  // Files no record will name once the staged batch is durable.
  std::vector<std::string> remove_after_sync_;
  // Invariant: the sequence of the last save (or rewrite); above every batch.
  std::uint64_t saved_sequence_ = 0;
  // Set when a snapshot or removal may have unpinned a segment.
  bool compaction_due_ = true;
  std::size_t checked_segments_ = 0;  // segment count at the last check
  Status failed_ = Status::ok;
  std::string error_;
  GroupLogStats counters_;
};

}  // namespace synod
