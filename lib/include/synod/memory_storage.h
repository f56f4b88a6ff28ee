// Storage kept in memory: for tests, the simulator and benchmarks. It tells
// staged writes from synced ones, so a simulated crash can lose (or tear) what
// was never synced.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <vector>

#include "synod/storage.h"

namespace synod {

class MemoryStorage final : public Storage {
 public:
  // track_durability=false skips the synced copy (benchmarks): crash() then
  // keeps everything.
  explicit MemoryStorage(bool track_durability = true) : tracking_(track_durability) {}

  bool empty() const override { return !current_.written; }
  HardState hard_state() const override { return current_.hard; }
  std::vector<Entry> entries() const override;
  Snapshot snapshot() const override { return current_.snapshot; }
  Status save_snapshot(const Snapshot& snap, Slot keep_from) override;
  Status save(const HardState* hs, std::span<const Entry> entries) override;
  Status sync() override;

  // A simulated crash: writes staged since the last sync are lost, except the
  // first keep_unsynced of them (a torn write reaches the disk in part).
  void crash(std::size_t keep_unsynced = 0);
  // A simulated disk wipe: everything is gone.
  void wipe() { *this = MemoryStorage(tracking_); }
  std::size_t unsynced_writes() const { return staged_.size(); }

  // What survives a crash (tests check that promises and accepts were durable
  // before they were sent). Only meaningful with track_durability.
  const HardState& synced_hard_state() const { return durable_.hard; }
  // Entries below it were compacted into the synced snapshot.
  Slot synced_floor() const { return durable_.floor; }
  const Entry* synced_entry(Slot s) const {
    auto it = durable_.entries.find(s.value);
    return it == durable_.entries.end() ? nullptr : &it->second;
  }

 private:
  struct Image {
    bool written = false;
    HardState hard{};
    std::map<std::uint64_t, Entry> entries;
    Snapshot snapshot;
    Slot floor{};  // keep_from of the last snapshot
  };
  struct SnapshotWrite {
    Snapshot snapshot;
    Slot keep_from;
  };
  // One of the three; a snapshot with its compaction is one atomic write.
  struct Write {
    std::optional<HardState> hard;
    std::optional<Entry> entry;
    std::optional<SnapshotWrite> snapshot;
  };
  static void apply(Image& image, const Write& w);

  bool tracking_;
  Image current_;  // what a reader sees now
  Image durable_;  // what survives a crash
  std::vector<Write> staged_;
};

}  // namespace synod
