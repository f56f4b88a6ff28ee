// A node's storage in the simulator: MemoryStorage, or the durable log over
// an in-memory fault file system (so crashes tear real record bytes). Either
// way a MemoryStorage mirror records what was synced, for the checker's
// "durable before sent" check.
#pragma once

#include <memory>

#include "synod/fault_file_system.h"
#include "synod/log_storage.h"
#include "synod/memory_storage.h"

namespace synod::sim {

class SimStorage {
 public:
  explicit SimStorage(bool use_log);

  // What the replica recovers from.
  const Storage& storage() const;
  Status save(const HardState* hs, std::span<const Entry> entries);
  Status save_snapshot(const Snapshot& snap, Slot keep_from);
  Status sync();
  // A crash: unsynced writes are lost except a prefix (keep: how much).
  void crash(std::size_t keep);
  // A disk wipe: everything is gone.
  void wipe();
  const MemoryStorage& mirror() const { return mirror_; }
  bool uses_log() const { return use_log_; }

 private:
  void open_log();

  bool use_log_;
  MemoryStorage mirror_;
  std::unique_ptr<FaultFileSystem> fs_;
  std::unique_ptr<LogStorage> log_;
};

}  // namespace synod::sim
