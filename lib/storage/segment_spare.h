// SegmentSpare: the next segment's file, zeroed and synced ahead of its
// roll on a thread of its own (Preallocation::write_zeros).
//
// Why: appends into fallocated (unwritten) extents make every fdatasync
// convert an extent and write the inode as well (on ext4 without a journal,
// a second synchronous write, ext4_write_inode, per sync); into blocks
// already written they need the data write alone. Zeroing a 64 MiB segment
// at the roll itself would stall every commit behind it, so the roll takes
// a file zeroed earlier, and only writes its header (docs/storage.md,
// "Preallocation").
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "synod/file_system.h"

namespace synod::storage {

// "0000000000000002.spare.tmp": the spare for segment 2. Recovery removes
// it (a temporary file); the roll renames it to the segment's name.
std::string spare_file_name(std::uint64_t seq);
bool is_spare_file_name(std::string_view name);

class SegmentSpare {
 public:
  // `fs` must be thread-safe (PosixFileSystem and FaultFileSystem are).
  SegmentSpare(FileSystem& fs, std::uint64_t segment_bytes);
  // Abandons a preparation in progress and joins the thread (which may
  // first finish an fdatasync). A prepared spare stays on disk: the next
  // open's recovery removes it.
  ~SegmentSpare();
  SegmentSpare(const SegmentSpare&) = delete;
  SegmentSpare& operator=(const SegmentSpare&) = delete;

  // Starts zeroing `path` in the background, unless a spare is prepared or
  // being prepared already: that one is kept for the next roll, whatever
  // segment its name was meant for (the roll renames it). Never waits.
  //
  // The zeros go out evenly over `spread` (0: as fast as the disk takes
  // them), in chunks of kChunkBytes. Why: written back to back, 64 MiB of
  // zeros on each of three replicas sharing a disk held every log
  // fdatasync behind them (7-17 ms instead of about 1) once a segment, and
  // took a commit's 95th percentile from about 5 ms to 10
  // (docs/benchmarks.md, "The ninth round"). A take() that finds the spare
  // not ready drops the pacing of the preparation in progress.
  void prepare(std::string path, std::chrono::nanoseconds spread = {});
  static constexpr std::uint64_t kChunkBytes = 256u << 10;
  // The prepared spare (zeroed and durable), its file name in *path;
  // nullptr if none is ready. A preparation in progress goes on, for the
  // roll after this one (or for the log to move to once it is ready):
  // 64 MiB of zeros half written are not thrown away. Never waits.
  std::unique_ptr<File> take(std::string* path);

  // Whether a spare is prepared (zeroed and durable).
  bool ready() const;

  // Counters (LogStats): spares taken at a roll, and rolls that found none
  // ready (the roll then fallocates instead).
  std::uint64_t taken() const;
  std::uint64_t missed() const;

 private:
  void run();
  // Writes zeros over the file, paced over `spread`, and syncs it; false if
  // stopping or failed.
  bool zero(File& file, std::chrono::nanoseconds spread);

  FileSystem& fs_;
  const std::uint64_t segment_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string wanted_;  // to prepare next; empty: nothing
  std::chrono::nanoseconds wanted_spread_{};
  std::string working_;               // being zeroed by the thread; empty: idle
  bool hurry_ = false;                // a roll missed: zero working_ unpaced
  std::string ready_path_;            // prepared, not taken
  std::unique_ptr<File> ready_file_;  // its file
  bool stopping_ = false;             // the destructor: give working_ up
  std::uint64_t taken_ = 0, missed_ = 0;
  std::thread thread_;  // started last
};

}  // namespace synod::storage
