#include "group_storage.h"

#include "checker.h"

namespace synod::sim {

GroupStorage::GroupStorage(bool use_log, std::size_t groups) {
  for (std::uint64_t g = 1; g <= groups; ++g) mirrors_[g];
  if (!use_log) return;
  fs_ = std::make_unique<FaultFileSystem>();
  open_log();
}

void GroupStorage::open_log() {
  log_.reset();  // releases the directory lock first
  GroupLogOptions o;
  o.log.segment_bytes = 64 * 1024;  // small, so segments roll often
  o.log.preallocation = Preallocation::none;
  o.log.file_system = fs_.get();
  auto opened = GroupLog::open("/sim", o);
  if (!opened.ok()) throw CheckFailure("group log recovery refused after a crash: " + opened.error);
  log_ = std::move(opened.log);
}

const Storage& GroupStorage::storage(std::uint64_t g) {
  if (log_) return log_->group(GroupId{g});
  return mirrors_.at(g);
}

Status GroupStorage::save(std::uint64_t g, const HardState* hs, std::span<const Entry> entries) {
  Status s = mirrors_.at(g).save(hs, entries);
  if (log_ && s == Status::ok) s = log_->save_ready(GroupId{g}, nullptr, Slot{}, hs, entries);
  return s;
}

Status GroupStorage::sync() {
  for (auto& [g, m] : mirrors_)
    if (Status s = m.sync(); s != Status::ok) return s;
  return log_ ? log_->sync() : Status::ok;
}

void GroupStorage::crash(std::size_t keep) {
  for (auto& [g, m] : mirrors_) m.crash(keep);
  if (!log_) return;
  // Staged but never written bytes die with the process; of what reached
  // the file but not the disk, a torn prefix may survive.
  log_.reset();
  fs_->crash(keep * 37);
  open_log();
}

}  // namespace synod::sim
