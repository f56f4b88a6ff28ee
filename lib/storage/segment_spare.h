// SegmentSpare: the next segment's file, zeroed and synced ahead of its
// roll on a thread of its own (Preallocation::write_zeros), or an old
// segment's file recycled (LogOptions::recycle_segments).
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
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "synod/file_system.h"

namespace synod::storage {

// "0000000000000002.spare.tmp": the spare zeroed for segment 2.
// "0000000000000002.recycled.tmp": segment 2's file, recycled as a spare.
// The two never share a name: segment X may be dropped, and recycled, while
// the spare zeroed for it under the first name is still waiting for a
// roll. Recovery removes both (temporary files); the roll renames either
// to the segment's name. is_spare_file_name is true for both.
std::string spare_file_name(std::uint64_t seq);
std::string recycled_file_name(std::uint64_t seq);
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
  // A prepared spare (zeroed and durable, or recycled), its file name in
  // *path, *recycled saying which; nullptr if none is ready. A preparation
  // in progress goes on, for the roll after this one (or for the log to
  // move to once it is ready): 64 MiB of zeros half written are not thrown
  // away. Never waits.
  std::unique_ptr<File> take(std::string* path, bool* recycled);

  // Recycling (LogOptions::recycle_segments): takes the file of a segment
  // compaction dropped as a spare, renamed to recycled_file_name(seq), its
  // seq, rather than have it removed. Its blocks are all written already
  // (SegmentInfo::prewritten), so it serves a roll as a zeroed spare does,
  // without 64 MiB of zeros written, nor the unlink of the old file and
  // its cached pages (docs/storage.md, "Recycled segments"). A preparation
  // not started yet is dropped; one in progress goes on (its zeros are
  // half written, and a spare to spare is what keeps a log that recycles
  // as fast as it rolls from ever zeroing again). True when the file is
  // now a spare (or, renamed but not to be opened, removed); false when
  // the caller must remove it as before: kReadyMax spares are ready or
  // being zeroed already, the file's size is not segment_bytes, or the
  // rename failed. Thread-safe; renames and opens without holding the
  // lock take() uses.
  bool recycle(const std::string& segment_path, std::uint64_t seq);
  static constexpr std::size_t kReadyMax = 2;

  // Whether a spare is prepared (zeroed and durable, or recycled).
  bool ready() const;

  // Counters (LogStats): spares taken at a roll, rolls that found none
  // ready (the roll then fallocates instead), spares zeroed, and segment
  // files recycled.
  struct Counters {
    std::uint64_t taken = 0, missed = 0, zeroed = 0, recycled = 0;
  };
  Counters counters() const;

 private:
  struct Ready {
    std::string path;
    std::unique_ptr<File> file;
    bool recycled = false;
  };
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
  std::string working_;  // being zeroed by the thread; empty: idle
  bool hurry_ = false;   // a roll missed: zero working_ unpaced
  // Prepared, not taken, oldest first. Invariant: at most kReadyMax, counting
  // working_ and recycle() calls between their check and their push
  // (incoming_).
  std::deque<Ready> ready_;
  std::size_t incoming_ = 0;
  bool stopping_ = false;  // the destructor: give working_ up
  Counters counters_;
  std::thread thread_;  // started last
};

}  // namespace synod::storage
