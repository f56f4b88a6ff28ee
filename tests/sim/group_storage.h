// One node's storage for all its groups in the many-groups simulator: one
// GroupLog over an in-memory fault file system (so a crash tears the shared
// log's unsynced bytes), or one MemoryStorage per group. Either way a
// MemoryStorage mirror per group records what was synced, for the checker's
// "durable before sent" check. One sync() covers every group, as a host
// with one log does.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <vector>

#include "synod/fault_file_system.h"
#include "synod/group_log.h"
#include "synod/memory_storage.h"

namespace synod::sim {

class GroupStorage {
 public:
  GroupStorage(bool use_log, std::size_t groups);

  // What group g's replica recovers from.
  const Storage& storage(std::uint64_t g);
  Status save(std::uint64_t g, const HardState* hs, std::span<const Entry> entries);
  Status sync();
  // A crash: unsynced writes are lost except a torn prefix (keep: how much).
  void crash(std::size_t keep);
  const MemoryStorage& mirror(std::uint64_t g) const { return mirrors_.at(g); }
  bool uses_log() const { return fs_ != nullptr; }

 private:
  void open_log();

  std::map<std::uint64_t, MemoryStorage> mirrors_;
  std::unique_ptr<FaultFileSystem> fs_;
  std::unique_ptr<GroupLog> log_;
};

}  // namespace synod::sim
