// Types shared by the durable log's parts (storage, segments, recovery).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "record_format.h"
#include "synod/snapshot.h"
#include "synod/storage.h"
#include "synod/types.h"
#include "synod/value.h"

namespace synod::storage {

// One record waiting in LogStorage for the next sync.
struct StagedWrite {
  // group and group_removed: GroupLog's records naming `group`.
  enum class Kind : std::uint8_t { entry, hard_state, compaction, snapshot, group, group_removed };
  // The save() it came from; all records of one save share it.
  std::uint64_t sequence = 0;
  Kind kind = Kind::entry;
  // GroupLog only: the group the record belongs to (LogStorage: unused).
  GroupId group{};
  HardState hard_state{};  // hard_state only
  Entry entry{};           // entry only
  Slot compacted_below{};  // compaction only
  // snapshot only: the image to write as a file (shares the host's bytes;
  // optional so that other records allocate nothing), and the record naming
  // it; the sync fills in its file_bytes and file_crc. Empty for a rewrite.
  std::optional<Snapshot> snapshot;
  SnapshotRecord snapshot_record{};
  // snapshot only: the record of the snapshot already on disk, written again
  // because compaction drops the segment holding it. No file is written.
  bool rewrite = false;
  // snapshot only: the file was written and made durable already, behind
  // the log (LogOptions::snapshots_behind); the record is complete.
  bool file_written = false;

  static StagedWrite of_kind(std::uint64_t seq, Kind kind) {
    StagedWrite w;
    w.sequence = seq;
    w.kind = kind;
    return w;
  }
  static StagedWrite of_entry(std::uint64_t seq, const Entry& e) {
    StagedWrite w = of_kind(seq, Kind::entry);
    w.entry = e;
    return w;
  }
  static StagedWrite of_hard_state(std::uint64_t seq, const HardState& hs) {
    StagedWrite w = of_kind(seq, Kind::hard_state);
    w.hard_state = hs;
    return w;
  }
  static StagedWrite of_compaction(std::uint64_t seq, Slot below) {
    StagedWrite w = of_kind(seq, Kind::compaction);
    w.compacted_below = below;
    return w;
  }
  static StagedWrite of_snapshot(std::uint64_t seq, const Snapshot& snap, Slot keep_from) {
    StagedWrite w = of_kind(seq, Kind::snapshot);
    w.snapshot = snap;
    w.snapshot_record = SnapshotRecord{snap.meta.slot, snap.meta.ballot, keep_from, 0, 0};
    return w;
  }
  static StagedWrite of_snapshot_written(std::uint64_t seq, const SnapshotRecord& r) {
    StagedWrite w = of_kind(seq, Kind::snapshot);
    w.snapshot_record = r;
    w.file_written = true;
    return w;
  }
  static StagedWrite of_snapshot_rewrite(std::uint64_t seq, const SnapshotRecord& r) {
    StagedWrite w = of_kind(seq, Kind::snapshot);
    w.snapshot_record = r;
    w.rewrite = true;
    return w;
  }
};

// What the log keeps in memory about one segment file.
struct SegmentInfo {
  std::uint64_t seq = 0;  // Invariant: the number in the file name and header
  std::string path;
  // Highest entry slot recorded in it; Slot{0} when it holds no entry.
  Slot max_slot{};
  // Highest save sequence (for recovered records: batch number) in it.
  // Invariant: increases from one segment to the next.
  std::uint64_t last_sequence = 0;
  // Every block of the file was written before its records (zeroed ahead,
  // or recycled): once compaction drops it, it may be recycled.
  bool prewritten = false;
};

// A file the log no longer needs, for its caller to remove (or, a
// prewritten segment, to offer to SegmentLog's recycling first).
struct Removal {
  std::string path;
  // A prewritten segment's number, when the log recycles: offered to
  // SegmentSpare::recycle under it first. 0: removed.
  std::uint64_t recycle_seq = 0;
};

// A recovered entry with the batch of the record it came from.
struct RecoveredEntry {
  Entry entry;
  std::uint64_t batch = 0;
};

// What recovery found for one group (LogStorage: the only one).
struct RecoveredGroup {
  bool written = false;    // a hard state, entry or snapshot record was found
  HardState hard{};        // the last hard state record
  Slot compacted_below{};  // the highest compaction record
  std::map<std::uint64_t, RecoveredEntry> entries;  // by slot, the last record wins
  std::uint64_t hard_state_segment = 0;             // seq of the latest hard state's segment
  std::uint64_t hard_state_batch = 0;               // its batch
  // The last snapshot record (its file is not checked here), its segment and batch.
  std::optional<SnapshotRecord> snapshot;
  std::uint64_t snapshot_segment = 0;
  std::uint64_t snapshot_batch = 0;
};

}  // namespace synod::storage
