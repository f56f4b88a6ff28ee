#include "sim_storage.h"

#include "checker.h"

namespace synod::sim {

SimStorage::SimStorage(bool use_log) : use_log_(use_log) {
  if (!use_log_) return;
  fs_ = std::make_unique<FaultFileSystem>();
  open_log();
}

void SimStorage::open_log() {
  log_.reset();  // releases the directory lock first
  LogOptions o;
  o.segment_bytes = 64 * 1024;  // small, so segments roll often
  o.preallocation = Preallocation::none;
  o.file_system = fs_.get();
  auto opened = LogStorage::open("/sim", o);
  if (!opened.ok()) throw CheckFailure("log recovery refused after a crash: " + opened.error);
  log_ = std::move(opened.storage);
}

const Storage& SimStorage::storage() const {
  if (use_log_) return *log_;
  return mirror_;
}

Status SimStorage::save(const HardState* hs, std::span<const Entry> entries) {
  Status s = mirror_.save(hs, entries);
  if (use_log_ && s == Status::ok) s = log_->save(hs, entries);
  return s;
}

Status SimStorage::save_snapshot(const Snapshot& snap, Slot keep_from) {
  Status s = mirror_.save_snapshot(snap, keep_from);
  if (use_log_ && s == Status::ok) s = log_->save_snapshot(snap, keep_from);
  return s;
}

Status SimStorage::sync() {
  Status s = mirror_.sync();
  if (use_log_ && s == Status::ok) s = log_->sync();
  return s;
}

void SimStorage::crash(std::size_t keep) {
  mirror_.crash(keep);
  if (!use_log_) return;
  // Staged but never written bytes die with the process; of what reached
  // the file but not the disk, a torn prefix may survive.
  log_.reset();
  fs_->crash(keep * 37);
  open_log();
}

void SimStorage::wipe() {
  mirror_.wipe();
  if (!use_log_) return;
  log_.reset();
  fs_ = std::make_unique<FaultFileSystem>();
  open_log();
}

}  // namespace synod::sim
