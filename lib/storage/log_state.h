// Types shared by the durable log's parts (storage, segments, recovery).
#pragma once

#include <cstdint>
#include <string>

#include "synod/storage.h"
#include "synod/types.h"
#include "synod/value.h"

namespace synod::storage {

// One record waiting in LogStorage for the next sync: a hard state or an entry.
struct StagedWrite {
  // The save() it came from; all records of one save share it.
  std::uint64_t sequence = 0;
  bool is_hard_state = false;
  HardState hard_state{};  // when is_hard_state
  Entry entry{};           // otherwise
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
