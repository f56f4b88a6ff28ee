// One group's state inside a GroupLog, and the Storage view a Replica uses.
// Every read locks the GroupLog's mutex; writes go through GroupLog.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "log_state.h"
#include "synod/group_log.h"

namespace synod::storage {

struct GroupState final : Storage {
  struct Indexed {
    Entry entry;
    // Save sequence of the record holding it (recovered: its batch). The
    // entry pins every segment at or above the one holding that sequence.
    std::uint64_t sequence = 0;
  };

  GroupState(GroupLog& log, GroupId id) : log_(log), id_(id) {}

  bool empty() const override {
    std::lock_guard lock(log_.mutex_);
    return !written;
  }
  HardState hard_state() const override {
    std::lock_guard lock(log_.mutex_);
    return hard;
  }
  std::vector<Entry> entries() const override {
    std::lock_guard lock(log_.mutex_);
    std::vector<Entry> out;
    out.reserve(index.size());
    for (const auto& [slot, e] : index) out.push_back(e.entry);
    return out;
  }
  Snapshot snapshot() const override {
    std::lock_guard lock(log_.mutex_);
    return snap;
  }
  Status save(const HardState* hs, std::span<const Entry> es) override {
    return log_.save_ready(id_, nullptr, Slot{}, hs, es);
  }
  Status save_snapshot(const Snapshot& s, Slot keep_from) override {
    return log_.save_ready(id_, &s, keep_from, nullptr, {});
  }
  Status sync() override { return log_.sync(); }

  // True when an entry's record lies at or below sequence `upto`.
  bool pins(std::uint64_t upto) const {
    for (const auto& [slot, e] : index)
      if (e.sequence <= upto) return true;
    return false;
  }

  GroupLog& log_;
  GroupId id_;
  // All guarded by the GroupLog's mutex.
  bool written = false;  // a hard state, entry or snapshot was ever saved
  HardState hard{};
  std::uint64_t hard_sequence = 0;  // of the latest hard state record; 0: none
  Snapshot snap;                    // the last saved (staged or durable)
  // The latest snapshot record written (file size and CRC filled in), and
  // its sequence: what compaction rewrites.
  std::optional<SnapshotRecord> durable_snapshot;
  std::uint64_t snapshot_sequence = 0;
  Slot keep_from{};  // Invariant: never decreases; no entry below it is indexed
  std::map<std::uint64_t, Indexed> index;  // by slot
};

}  // namespace synod::storage
