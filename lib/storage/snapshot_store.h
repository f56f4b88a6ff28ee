// Snapshot files on disk: writing one durably, and at open, loading the one
// the log names and removing every other. The log's snapshot record, not the
// file, is the switch (docs/storage.md, "Snapshots").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "record_format.h"
#include "synod/file_system.h"
#include "synod/snapshot.h"

namespace synod::storage {

// Writes snap as dir/snapshot_file_name(slot): under a temporary name, data
// fdatasynced, renamed, directory fsynced. So once it returns ok the file is
// there after any crash, and a crash before leaves at most a file no record
// names. Fills out's file_bytes and file_crc (the rest is the caller's). On
// error removes what it created, best effort (a full disk gets its space
// back); nothing else in dir is touched.
IoStatus write_snapshot_file(FileSystem& fs, const std::string& dir, const Snapshot& snap,
                             SnapshotRecord* out);

// How write_snapshot_file_paced spreads a file: chunks of kChunkBytes, each
// started on its way to the device as soon as it is written
// (File::start_writeback), chunk k due k/N of the way through `spread`.
// `wait` sleeps until a chunk is due; false abandons the write.
struct SnapshotPacing {
  static constexpr std::uint64_t kChunkBytes = 1u << 20;
  std::chrono::nanoseconds spread{};
  std::function<bool(std::chrono::steady_clock::time_point due)> wait;
};

// write_snapshot_file, paced. Why: three replicas writing a 28 MB image
// each at once, back to back, held every log fdatasync on the shared disk
// to 30-50 ms (docs/storage.md, "Snapshots behind the log"). *abandoned is
// set when `wait` gave up (then the status is ok and nothing is left).
IoStatus write_snapshot_file_paced(FileSystem& fs, const std::string& dir, const Snapshot& snap,
                                   SnapshotRecord* out, const SnapshotPacing& pacing,
                                   bool* abandoned);

// Open-time: loads and verifies the file `named` names (size, CRC, slot and
// ballot must match the record) into *out; a missing or damaged file is
// corrupt, with an error naming it. Then, and only then, removes every other
// snapshot file and temporary (orphans of a crash, superseded snapshots) and
// fsyncs the directory if it removed any. With no
// record, removes them all. Adds their number to *removed.
IoStatus recover_snapshot(FileSystem& fs, const std::string& dir,
                          const std::optional<SnapshotRecord>& named, Snapshot* out,
                          std::size_t* removed);

}  // namespace synod::storage
