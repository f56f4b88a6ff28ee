// Types shared by the durable log's parts (storage, segments, recovery).
#pragma once

#include <cstdint>
#include <string>

#include "synod/storage.h"
#include "synod/types.h"
#include "synod/value.h"

namespace synod::storage {

// One record waiting in LogStorage for the next sync.
struct StagedWrite {
  enum class Kind : std::uint8_t { entry, hard_state, compaction };
  // The save() it came from; all records of one save share it.
  std::uint64_t sequence = 0;
  Kind kind = Kind::entry;
  HardState hard_state{};  // hard_state only
  Entry entry{};           // entry only
  Slot compacted_below{};  // compaction only

  static StagedWrite of_entry(std::uint64_t seq, const Entry& e) {
    return StagedWrite{seq, Kind::entry, {}, e, {}};
  }
  static StagedWrite of_hard_state(std::uint64_t seq, const HardState& hs) {
    return StagedWrite{seq, Kind::hard_state, hs, {}, {}};
  }
  static StagedWrite of_compaction(std::uint64_t seq, Slot below) {
    return StagedWrite{seq, Kind::compaction, {}, {}, below};
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
};

// A recovered entry with the batch of the record it came from.
struct RecoveredEntry {
  Entry entry;
  std::uint64_t batch = 0;
};

}  // namespace synod::storage
