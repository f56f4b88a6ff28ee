// The write side of the durable log: the ordered segment files, appending a
// batch (one write, one fdatasync) with the snapshot file it names, rolling to
// a new segment, dropping old ones. Knows nothing of the in-memory index;
// LogStorage drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "log_state.h"
#include "synod/file_system.h"
#include "synod/log_storage.h"

namespace synod::storage {

// "0000000000000001.log": 16 hex digits sort the same as the numbers.
std::string segment_file_name(std::uint64_t seq);
bool parse_segment_file_name(std::string_view name, std::uint64_t* seq);
// A segment being created; recovery deletes leftovers.
inline constexpr std::string_view kTempSuffix = ".tmp";
inline constexpr std::string_view kLockFileName = "LOCK";

// Writes all of data at offset, looping over short writes.
IoStatus write_fully(File& file, std::uint64_t offset, std::span<const std::byte> data,
                     const std::string& path);
// Reserves the segment's full size as the options say (no sync).
IoStatus preallocate(File& file, const LogOptions& options, const std::string& path);

class SegmentSpare;

class SegmentLog {
 public:
  // With Preallocation::write_zeros, the next segment is zeroed ahead on a
  // thread of its own, or recycled (segment_spare.h).
  SegmentLog(FileSystem& fs, std::string dir, const LogOptions& options);
  ~SegmentLog();

  // Continues a recovered log. Preconditions: segments ascending and
  // non-empty; active is the last one's file; the next record goes at
  // active_end; last_batch is the last batch kept; snapshot is the last
  // snapshot record kept (its file verified), in segment snapshot_segment;
  // active_prewritten: the active segment's rest is known to be written
  // blocks (its header says zeroed or recycled,
  // RecoveredLog::active_prewritten).
  void adopt(std::vector<SegmentInfo> segments, std::unique_ptr<File> active,
             std::uint64_t active_end, std::uint64_t last_batch, std::uint64_t hard_state_segment,
             std::optional<SnapshotRecord> snapshot, std::uint64_t snapshot_segment,
             bool active_prewritten);
  // Starts an empty log with segment 1.
  IoStatus start();

  // Writes the records as one batch (in order, the last flagged batch_end)
  // and fdatasyncs. Rolls first when the batch would take the active segment
  // past segment_bytes. A snapshot write (not a rewrite) first gets its file,
  // durably, so that the record never names a file a crash can take away;
  // once the batch is durable the file the previous record named goes.
  // Precondition: non-empty, at most one snapshot write that is not a
  // rewrite, and none after it.
  IoStatus append_batch(std::span<const StagedWrite> writes);

  // How many of the oldest segments hold entries all below `below`; never
  // the active one.
  std::size_t droppable(Slot below) const;
  // True when the latest hard state record lies in the oldest `count` segments.
  bool hard_state_within(std::size_t count) const;
  // True when the latest snapshot record lies in the oldest `count` segments.
  bool snapshot_within(std::size_t count) const;
  std::uint64_t last_sequence_within(std::size_t count) const;
  // Removes the oldest count segments, oldest first, then syncs the
  // directory. A crash part way leaves a contiguous suffix. With
  // recycle_segments a prewritten one goes to the spare instead, renamed
  // (which takes it away in the same order).
  IoStatus drop_oldest(std::size_t count);
  // The same, leaving the files to the caller: forgets the oldest `count`
  // segments and returns their paths, oldest first, to be removed in that
  // order (a crash part way then leaves a contiguous suffix, as above),
  // each recyclable one offered to recycler() first.
  std::vector<Removal> detach_oldest(std::size_t count);
  // Where a dropped segment may go instead of being removed
  // (SegmentSpare::recycle, thread-safe); nullptr without recycle_segments.
  // Lives as long as this log.
  SegmentSpare* recycler() const;

  std::uint64_t last_batch() const { return last_batch_; }
  std::size_t segment_count() const { return segments_.size(); }
  // The highest save sequence in the oldest segment (0 when none).
  std::uint64_t oldest_last_sequence() const;
  // The latest snapshot record written (or recovered); none before the first.
  const std::optional<SnapshotRecord>& last_snapshot() const { return last_snapshot_; }
  LogPosition end() const;
  LogStats stats() const;
  // Paths of snapshot files a batch superseded whose removal the log left to
  // its caller: those replaced by a snapshot written behind (its record's
  // StagedWrite::file_written). Emptied by the call.
  std::vector<Removal> take_stale_snapshots();

 private:
  IoStatus roll();
  // Pads buffer_, whose last byte goes just before file offset `end`, with
  // zeros to the next page boundary (never past the segment's size).
  void pad_to_page(std::uint64_t end);
  // Starts buffer_ for a batch at active_end_: returns where in the file its
  // bytes from *start on go. In a prewritten segment whose last partial page
  // is known (tail_), that is the page's start, buffer_[*start] is aligned
  // in memory for O_DIRECT, and tail_ follows it: the batch is then written
  // whole pages at a time, uncached (write_batch_bytes).
  std::uint64_t begin_batch_buffer(std::size_t record_bytes, std::size_t* start);
  // Writes buffer_ from start to file offset `at`, uncached where
  // begin_batch_buffer aligned it.
  IoStatus write_batch_bytes(std::uint64_t at, std::size_t start, const std::string& path);
  // Once the batch written so is durable: keeps in tail_ the bytes of the
  // page holding batch_end (the offset after its last record) before it,
  // if the write covered that page's start.
  void keep_tail(std::uint64_t at, std::size_t start, std::uint64_t batch_end);
  // tail_ from the active segment's file (adopt).
  void read_tail();
  // The bytes of the active segment's last page before active_end_ (a write
  // of whole pages rewrites them); read at adopt, kept by each write.
  // Unknown (tail_known_ false) until a write covered the page's start.
  std::vector<std::byte> tail_;
  bool tail_known_ = false;
  std::string path_of(std::uint64_t seq) const;
  // Of the segment after the active one, its zeros spread over `spread`.
  void prepare_spare(std::chrono::nanoseconds spread = {});
  // Half the time the active segment would take to fill at the rate it
  // filled so far (at most kSpareSpreadMax): how long the next spare's
  // zeroing may take and still be ready for its roll.
  std::chrono::nanoseconds spare_spread() const;
  static constexpr std::chrono::seconds kSpareSpreadMax{10};

  FileSystem& fs_;
  std::string dir_;
  LogOptions options_;
  // Invariant: ascending consecutive seqs; back() is the active segment.
  std::vector<SegmentInfo> segments_;
  std::unique_ptr<File> active_;
  // Invariant: offset after the last record written to the active segment.
  std::uint64_t active_end_ = 0;
  // Invariant: batch number of the last record written. Batches are numbered
  // without gaps (a segment header takes one), which lets recovery tell a
  // torn unsynced batch from a damaged synced one.
  std::uint64_t last_batch_ = 0;
  // Segment holding the latest hard state record; 0 when none was written.
  std::uint64_t hard_state_segment_ = 0;
  // The latest snapshot record written, and its segment (0 when none). Its
  // file is the one snapshot file the log keeps.
  std::optional<SnapshotRecord> last_snapshot_;
  std::uint64_t snapshot_segment_ = 0;
  std::vector<std::byte> buffer_;  // encoding scratch, reused
  LogStats stats_;
  std::unique_ptr<SegmentSpare> spare_;  // write_zeros only
  // The active segment was zeroed ahead or recycled (taken from the spare,
  // or recovered with a header that says so); false for a fallocated one.
  bool active_prewritten_ = false;
  std::vector<Removal> stale_snapshots_;                  // take_stale_snapshots()
  std::chrono::steady_clock::time_point active_since_{};  // when it became active
};

}  // namespace synod::storage
