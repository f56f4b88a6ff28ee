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

// A single-group log's state is the RecoveredGroup base; a many-group log's
// is in `groups` (the base stays empty).
struct RecoveredLog : RecoveredGroup {
  // ok; corrupt (message names file and offset); storage_error or no_space.
  IoStatus status;
  RecoveryReport report;
  // Many-group logs only: each group's state, by group id.
  std::map<GroupId, RecoveredGroup> groups;
  // Ascending; empty for a new log.
  std::vector<SegmentInfo> segments;
  // The last segment, open, with the next record going at active_end.
  std::unique_ptr<File> active;
  std::uint64_t active_end = 0;
  // The active segment past active_end is written blocks: its header says
  // it was zeroed ahead or recycled, or recovery cut its tail and zeroed it
  // again (Preallocation::write_zeros). Appends there need no extent
  // conversion.
  bool active_prewritten = false;
  std::uint64_t last_batch = 0;
};

// grouped: the log is a GroupLog's, whose records each follow a group
// record; a group record in a LogStorage log, or an untagged record in a
// GroupLog's, is corruption (the wrong class opened the directory).
RecoveredLog recover_log(FileSystem& fs, const std::string& dir, const LogOptions& options,
                         bool grouped = false);

}  // namespace synod::storage
