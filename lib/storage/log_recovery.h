// Opening an existing log: read every segment, verify every record, decide
// whether damage is a torn tail (cut it off, durably) or corruption of
// synced data (refuse, naming the file and offset).
//
// The rule (docs/storage.md, "Recovery"): batches are numbered without gaps
// and written one after another, each only after the previous one's
// fdatasync returned. So a valid record of a later batch after damaged bytes
// proves those bytes were synced: corruption. Damage with nothing after it
// but records of the same (last) batch is a torn write of that batch; the
// whole batch is dropped, as it was never acknowledged.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "log_state.h"
#include "record_format.h"
#include "synod/file_system.h"
#include "synod/log_storage.h"

namespace synod::storage {

struct RecoveredLog {
  // ok; corrupt (message names file and offset); storage_error or no_space.
  IoStatus status;
  RecoveryReport report;
  bool written = false;    // a hard state, entry or snapshot record was found
  HardState hard{};        // the last hard state record
  Slot compacted_below{};  // the highest compaction record
  std::map<std::uint64_t, RecoveredEntry> entries;  // by slot, the last record wins
  // Ascending; empty for a new log.
  std::vector<SegmentInfo> segments;
  std::uint64_t hard_state_segment = 0;  // seq of the latest hard state's segment
  // The last snapshot record (its file is not checked here), and its segment.
  std::optional<SnapshotRecord> snapshot;
  std::uint64_t snapshot_segment = 0;
  // The last segment, open, with the next record going at active_end.
  std::unique_ptr<File> active;
  std::uint64_t active_end = 0;
  std::uint64_t last_batch = 0;
};

RecoveredLog recover_log(FileSystem& fs, const std::string& dir, const LogOptions& options);

}  // namespace synod::storage
