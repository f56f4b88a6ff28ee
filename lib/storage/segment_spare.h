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

  // Starts zeroing `path` in the background; a spare not taken by now is
  // abandoned (its file removed). Never waits for the thread.
  void prepare(std::string path);
  // The file prepared for `path` once zeroed and durable; nullptr if it is
  // not ready (its preparation is then abandoned: the thread removes the
  // file), failed, or was for another path. Never waits for the thread.
  std::unique_ptr<File> take(const std::string& path);

  // Whether the spare for `path` is prepared (zeroed and durable).
  bool ready(const std::string& path) const;

  // Counters (LogStats): spares taken at a roll, and rolls that found none
  // ready (the roll then fallocates instead).
  std::uint64_t taken() const;
  std::uint64_t missed() const;

 private:
  void run();
  // Writes zeros over the file and syncs it; false if abandoned or failed.
  bool zero(File& file, const std::string& path);
  void drop_ready_locked();

  FileSystem& fs_;
  const std::uint64_t segment_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string wanted_;                // to prepare next; empty: nothing
  std::string working_;               // being zeroed by the thread; empty: idle
  bool abandoned_ = false;            // the thread is to give working_ up
  std::string ready_path_;            // prepared, not taken
  std::unique_ptr<File> ready_file_;  // its file
  bool stopping_ = false;
  std::uint64_t taken_ = 0, missed_ = 0;
  std::thread thread_;  // started last
};

}  // namespace synod::storage
