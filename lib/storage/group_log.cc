// GroupLog: many groups' Storage over one segment log. Opening, staging and
// the group-committed sync; compaction is in group_log_compact.cc.
#include "synod/group_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "group_state.h"
#include "log_recovery.h"
#include "record_format.h"
#include "segment_log.h"
#include "snapshot_format.h"
#include "snapshot_store.h"

namespace synod {

using storage::GroupState;
using storage::SegmentLog;
using storage::StagedWrite;

namespace {

constexpr std::string_view kSnapshotsDir = "snapshots";

IoStatus make_dir_durably(FileSystem& fs, const std::string& dir) {
  bool created = false;
  if (IoStatus st = fs.make_dir(dir, &created); !st.ok()) return st;
  return created ? fs.sync_dir(parent_dir(dir)) : IoStatus{};
}

}  // namespace

Status GroupLogOptions::validate(std::string* why) const {
  if (Status st = log.validate(why); st != Status::ok) return st;
  if (straggler_groups == 0) {
    if (why) *why = "straggler_groups must be at least 1";
    return Status::invalid_config;
  }
  return Status::ok;
}

GroupLog::GroupLog(std::string dir, const GroupLogOptions& options, FileSystem& fs)
    : dir_(std::move(dir)), options_(options), fs_(fs) {}

GroupLog::~GroupLog() = default;

std::string GroupLog::snapshot_dir(GroupId id) const {
  return join_path(join_path(dir_, kSnapshotsDir), fmt::format("{:016x}", id.value));
}

GroupLog::OpenResult GroupLog::open(const std::string& dir, const GroupLogOptions& options) {
  OpenResult result;
  if (options.validate(&result.error) != Status::ok) {
    result.status = Status::invalid_config;
    return result;
  }
  FileSystem& fs = options.log.file_system ? *options.log.file_system : posix_file_system();
  auto failed = [&](IoStatus io) {
    result.status = io.status;
    result.error = std::move(io.message);
    return std::move(result);
  };
  std::unique_ptr<GroupLog> log(new GroupLog(dir, options, fs));
  if (options.log.create_if_missing) {
    if (IoStatus st = make_dir_durably(fs, dir); !st.ok()) return failed(std::move(st));
  }
  if (IoStatus st = fs.lock(join_path(dir, storage::kLockFileName), &log->lock_); !st.ok())
    return failed(std::move(st));
  std::string snapshots = join_path(dir, kSnapshotsDir);
  if (IoStatus st = make_dir_durably(fs, snapshots); !st.ok()) return failed(std::move(st));

  storage::RecoveredLog rec = storage::recover_log(fs, dir, options.log, /*grouped=*/true);
  result.report = rec.report;
  if (!rec.status.ok()) return failed(std::move(rec.status));
  log->segments_ = std::make_unique<SegmentLog>(fs, dir, options.log);
  if (rec.segments.empty()) {
    if (IoStatus st = log->segments_->start(); !st.ok()) return failed(std::move(st));
  } else {
    log->segments_->adopt(std::move(rec.segments), std::move(rec.active), rec.active_end,
                          rec.last_batch, 0, std::nullopt, 0, rec.active_prewritten);
  }
  // Snapshot directories: each known group's file is loaded and verified;
  // those of removed groups (and orphans) are emptied.
  std::vector<std::string> names;
  if (IoStatus st = fs.list(snapshots, &names); !st.ok()) return failed(std::move(st));
  for (auto& [id, rg] : rec.groups) {
    auto g = std::make_unique<GroupState>(*log, id);
    std::string sdir = log->snapshot_dir(id);
    bool has_dir =
        std::find(names.begin(), names.end(), fmt::format("{:016x}", id.value)) != names.end();
    if (rg.snapshot || has_dir) {
      if (IoStatus st = storage::recover_snapshot(fs, sdir, rg.snapshot, &g->snap,
                                                  &result.report.snapshot_files_removed);
          !st.ok())
        return failed(std::move(st));
    }
    g->written = rg.written;
    g->hard = rg.hard;
    g->hard_sequence = rg.hard_state_batch;
    if (rg.snapshot) {
      g->durable_snapshot = rg.snapshot;
      g->snapshot_sequence = rg.snapshot_batch;
      g->keep_from = rg.snapshot->keep_from;
    }
    for (auto& [slot, r] : rg.entries) {
      if (slot < g->keep_from.value) continue;  // the snapshot record forgot it
      g->index.emplace(slot, GroupState::Indexed{std::move(r.entry), r.batch});
    }
    log->groups_.emplace(id, std::move(g));
  }
  for (const std::string& name : names) {
    std::uint64_t id = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id, 16);
    if (name.size() != 16 || ec != std::errc{} || end != name.data() + name.size() ||
        log->groups_.contains(GroupId{id}))
      continue;
    if (IoStatus st = storage::recover_snapshot(fs, join_path(snapshots, name), std::nullopt,
                                                nullptr, &result.report.snapshot_files_removed);
        !st.ok())
      return failed(std::move(st));
  }
  // Sequences continue above every recovered batch, as in LogStorage.
  log->saved_sequence_ = log->segments_->last_batch();
  log->checked_segments_ = log->segments_->segment_count();
  result.log = std::move(log);
  return result;
}

GroupState& GroupLog::state_locked(GroupId id) {
  auto it = groups_.find(id);
  if (it == groups_.end()) it = groups_.emplace(id, std::make_unique<GroupState>(*this, id)).first;
  return *it->second;
}

Storage& GroupLog::group(GroupId id) {
  std::lock_guard lock(mutex_);
  return state_locked(id);
}

bool GroupLog::has_group(GroupId id) const {
  std::lock_guard lock(mutex_);
  return groups_.contains(id);
}

std::vector<GroupId> GroupLog::groups() const {
  std::lock_guard lock(mutex_);
  std::vector<GroupId> out;
  out.reserve(groups_.size());
  for (const auto& [id, g] : groups_) out.push_back(id);
  return out;
}

Status GroupLog::remove_group(GroupId id) {
  std::lock_guard lock(mutex_);
  if (failed_ != Status::ok) return failed_;
  auto it = groups_.find(id);
  if (it == groups_.end()) return Status::ok;
  std::erase_if(staged_, [&](const StagedWrite& w) { return w.group == id; });
  if (it->second->durable_snapshot)
    remove_after_sync_.push_back(join_path(
        snapshot_dir(id), storage::snapshot_file_name(it->second->durable_snapshot->slot)));
  groups_.erase(it);
  StagedWrite w = StagedWrite::of_kind(++saved_sequence_, StagedWrite::Kind::group_removed);
  w.group = id;
  staged_.push_back(std::move(w));
  ++counters_.groups_removed;
  compaction_due_ = true;
  return Status::ok;
}

Status GroupLog::save_ready(GroupId id, const Snapshot* snap, Slot keep_from, const HardState* hs,
                            std::span<const Entry> entries) {
  for (const Entry& e : entries) {
    if (storage::entry_record_bytes(e) - storage::kRecordHeaderBytes >
        options_.log.record_bytes_max)
      return Status::too_large;
  }
  std::lock_guard lock(mutex_);
  if (failed_ != Status::ok) return failed_;
  GroupState& g = state_locked(id);
  if (snap &&
      (snap->meta.slot <= g.snap.meta.slot || keep_from > snap->meta.slot.next() || !snap->data))
    return Status::invalid_argument;
  std::uint64_t seq = ++saved_sequence_;
  auto stage = [&](StagedWrite w) {
    w.group = id;
    staged_.push_back(std::move(w));
  };
  if (snap) {
    g.keep_from = std::max(g.keep_from, keep_from);
    // One snapshot per group per batch: a staged one is superseded.
    std::erase_if(staged_, [&](const StagedWrite& w) {
      return w.group == id && w.kind == StagedWrite::Kind::snapshot;
    });
    stage(StagedWrite::of_snapshot(seq, *snap, g.keep_from));
    g.snap = *snap;
    g.snapshot_sequence = seq;
    g.index.erase(g.index.begin(), g.index.lower_bound(g.keep_from.value));
    g.written = true;
    compaction_due_ = true;
  }
  for (const Entry& e : entries) {
    if (e.slot < g.keep_from) continue;
    stage(StagedWrite::of_entry(seq, e));
    g.index[e.slot.value] = GroupState::Indexed{e, seq};
  }
  if (hs) {
    stage(StagedWrite::of_hard_state(seq, *hs));
    g.hard = *hs;
    g.hard_sequence = seq;
  }
  if (hs || !entries.empty()) g.written = true;
  return Status::ok;
}

Status GroupLog::write_snapshot_files_locked(std::vector<StagedWrite>& batch) {
  for (StagedWrite& w : batch) {
    if (w.kind != StagedWrite::Kind::snapshot || w.rewrite) continue;
    std::string sdir = snapshot_dir(w.group);
    if (IoStatus st = make_dir_durably(fs_, sdir); !st.ok()) return fail_locked(st);
    if (IoStatus st = storage::write_snapshot_file(fs_, sdir, *w.snapshot, &w.snapshot_record);
        !st.ok())
      return fail_locked(st);
    // The file is durable: from here the record is all SegmentLog writes.
    w.snapshot.reset();
    w.rewrite = true;
    ++counters_.log.snapshots_written;
    GroupState& g = *groups_.at(w.group);
    // A group removed and created again in this batch may reuse the name.
    std::erase(remove_after_sync_,
               join_path(sdir, storage::snapshot_file_name(w.snapshot_record.slot)));
    if (g.durable_snapshot && g.durable_snapshot->slot != w.snapshot_record.slot)
      remove_after_sync_.push_back(
          join_path(sdir, storage::snapshot_file_name(g.durable_snapshot->slot)));
    g.durable_snapshot = w.snapshot_record;
  }
  return Status::ok;
}

Status GroupLog::write_batch_locked(std::vector<StagedWrite> writes) {
  // Grouped, each group's records in save order after one group record.
  std::stable_sort(writes.begin(), writes.end(),
                   [](const StagedWrite& a, const StagedWrite& b) { return a.group < b.group; });
  std::vector<StagedWrite> tagged;
  tagged.reserve(writes.size() + 16);
  bool open = false;
  GroupId current{};
  for (StagedWrite& w : writes) {
    if (w.kind == StagedWrite::Kind::group_removed) {
      open = false;  // the removal closes the group's scope
    } else if (!open || w.group != current) {
      StagedWrite tag = StagedWrite::of_kind(w.sequence, StagedWrite::Kind::group);
      tag.group = w.group;
      tagged.push_back(std::move(tag));
      open = true;
      current = w.group;
    }
    tagged.push_back(std::move(w));
  }
  if (IoStatus st = segments_->append_batch(tagged); !st.ok()) return fail_locked(st);
  return Status::ok;
}

Status GroupLog::sync() {
  std::lock_guard lock(mutex_);
  if (failed_ != Status::ok) return failed_;
  if (staged_.empty()) return Status::ok;
  std::vector<StagedWrite> batch;
  batch.swap(staged_);
  if (Status st = write_snapshot_files_locked(batch); st != Status::ok) return st;
  if (Status st = write_batch_locked(std::move(batch)); st != Status::ok) return st;
  // No record that counts names these files any more. No directory fsync:
  // a crash that undoes a removal leaves an orphan open removes.
  for (const std::string& path : remove_after_sync_)
    if (IoStatus st = fs_.remove(path); !st.ok()) return fail_locked(st);
  remove_after_sync_.clear();
  return compact_locked();
}

Status GroupLog::fail_locked(const IoStatus& io) {
  if (failed_ == Status::ok) {
    failed_ = io.status;
    error_ = io.message;
  }
  return failed_;
}

Status GroupLog::status() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

std::string GroupLog::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

GroupLogStats GroupLog::stats() const {
  std::lock_guard lock(mutex_);
  GroupLogStats s = counters_;
  std::uint64_t snapshots = s.log.snapshots_written;
  s.log = segments_->stats();
  s.log.snapshots_written = snapshots;
  s.groups = groups_.size();
  return s;
}

}  // namespace synod
