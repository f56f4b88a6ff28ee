// Segment files on the write path. Ordering rules (each guards a crash case):
// - a new segment is written, preallocated and fdatasynced under a temporary
//   name, renamed, and the directory fsynced, all before any batch goes in:
//   a segment file with its final name always has a durable header;
// - a batch never spans segments, and the next batch is written only after
//   the previous fdatasync returned ok: at most the last batch is torn;
// - old segments are removed oldest first, then the directory fsynced;
// - a snapshot file is durable under its final name before the batch with
//   the record naming it is written, and the file it replaces goes only
//   after that batch's fdatasync: every crash finds the file its last
//   record names.
#include "segment_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "record_format.h"
#include "segment_spare.h"
#include "snapshot_format.h"
#include "snapshot_store.h"

namespace synod::storage {

std::string segment_file_name(std::uint64_t seq) { return fmt::format("{:016x}.log", seq); }

bool parse_segment_file_name(std::string_view name, std::uint64_t* seq) {
  constexpr std::size_t kDigits = 16;
  if (name.size() != kDigits + 4 || name.substr(kDigits) != ".log") return false;
  for (char c : name.substr(0, kDigits))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  auto [end, ec] = std::from_chars(name.data(), name.data() + kDigits, *seq, 16);
  return ec == std::errc{} && end == name.data() + kDigits;
}

IoStatus write_fully(File& file, std::uint64_t offset, std::span<const std::byte> data,
                     const std::string& path) {
  while (!data.empty()) {
    std::size_t n = 0;
    if (IoStatus st = file.write_at(offset, data, &n); !st.ok()) return st;
    // A write that moves nothing and reports no error would loop for ever.
    if (n == 0)
      return IoStatus::failure(Status::storage_error, "pwrite " + path + ": wrote 0 bytes");
    offset += n;
    data = data.subspan(n);
  }
  return {};
}

IoStatus preallocate(File& file, const LogOptions& options, const std::string& path) {
  switch (options.preallocation) {
    case Preallocation::none:
      return {};
    case Preallocation::allocate:
      return file.allocate(options.segment_bytes);
    case Preallocation::write_zeros: {
      std::uint64_t size = 0;
      if (IoStatus st = file.size(&size); !st.ok()) return st;
      static const std::vector<std::byte> kZeros(1u << 20);
      while (size < options.segment_bytes) {
        std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(kZeros.size(), options.segment_bytes - size));
        if (IoStatus st = write_fully(file, size, {kZeros.data(), n}, path); !st.ok()) return st;
        size += n;
      }
      return {};
    }
  }
  return {};
}

SegmentLog::SegmentLog(FileSystem& fs, std::string dir, const LogOptions& options)
    : fs_(fs), dir_(std::move(dir)), options_(options) {
  if (options_.preallocation == Preallocation::write_zeros)
    spare_ = std::make_unique<SegmentSpare>(fs_, options_.segment_bytes);
}

SegmentLog::~SegmentLog() = default;

void SegmentLog::prepare_spare(std::chrono::nanoseconds spread) {
  if (spare_ && !segments_.empty())
    spare_->prepare(join_path(dir_, spare_file_name(segments_.back().seq + 1)), spread);
}

std::chrono::nanoseconds SegmentLog::spare_spread() const {
  if (!active_ || active_end_ == 0) return {};
  double elapsed = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           std::chrono::steady_clock::now() - active_since_)
                                           .count());
  double fill =
      elapsed * static_cast<double>(options_.segment_bytes) / static_cast<double>(active_end_);
  double most = static_cast<double>(std::chrono::nanoseconds(kSpareSpreadMax).count());
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(fill / 2, most)));
}

std::string SegmentLog::path_of(std::uint64_t seq) const {
  return join_path(dir_, segment_file_name(seq));
}

void SegmentLog::adopt(std::vector<SegmentInfo> segments, std::unique_ptr<File> active,
                       std::uint64_t active_end, std::uint64_t last_batch,
                       std::uint64_t hard_state_segment, std::optional<SnapshotRecord> snapshot,
                       std::uint64_t snapshot_segment, bool active_prewritten) {
  segments_ = std::move(segments);
  active_ = std::move(active);
  active_end_ = active_end;
  last_batch_ = last_batch;
  hard_state_segment_ = hard_state_segment;
  last_snapshot_ = snapshot;
  snapshot_segment_ = snapshot_segment;
  stats_.segments = segments_.size();
  // A segment whose header says it was zeroed ahead or recycled is appended
  // to until it is full, as before the restart; only a fallocated one (or
  // one written before segment headers said) is left for the spare once it
  // is ready.
  active_prewritten_ = active_prewritten;
  active_since_ = std::chrono::steady_clock::now();
  read_tail();
  prepare_spare();
}

void SegmentLog::read_tail() {
  tail_known_ = false;
  if (!active_ || !active_prewritten_) return;
  const std::uint64_t page_start = active_end_ / kWritePadBytes * kWritePadBytes;
  tail_.resize(static_cast<std::size_t>(active_end_ - page_start));
  std::size_t got = 0;
  // Recovery read these bytes just before; should the read fail now, the
  // next batch is written as in a fallocated segment, buffered from
  // active_end_, and the one after knows its page again.
  tail_known_ = active_->read_at(page_start, tail_, &got).ok() && got == tail_.size();
}

IoStatus SegmentLog::start() { return roll(); }

IoStatus SegmentLog::roll() {
  std::uint64_t seq = segments_.empty() ? 1 : segments_.back().seq + 1;
  std::string path = path_of(seq);
  const std::chrono::nanoseconds spread = spare_spread();  // of the segment being left
  std::string temp;
  std::unique_ptr<File> file;
  // With write_zeros a spare zeroed ahead takes the header only (its file
  // name may be the one meant for an earlier segment: a spare not ready at
  // its roll is kept for the next). With none ready (the first segment, or
  // a roll that came before the spare was done) the segment is fallocated
  // rather than zeroed here, which would stall the start or every commit
  // behind 64 MiB of zeros; the log then moves on to the spare as soon as
  // it is ready (append_batch).
  LogOptions prealloc = options_;
  bool prewritten = false, recycled = false;
  if (spare_) {
    file = segments_.empty() ? nullptr : spare_->take(&temp, &recycled);
    prewritten = file != nullptr;
    prealloc.preallocation = prewritten ? Preallocation::none : Preallocation::allocate;
  }
  if (!file) {
    temp = path + std::string(kTempSuffix);
    if (IoStatus st = fs_.open(temp, OpenMode::create_new, &file); !st.ok()) return st;
  }
  std::uint64_t batch = last_batch_ + 1;
  buffer_.clear();
  // The header says whether the rest of the file was zeroed (and synced)
  // before it went in, or recycled, so that a restart keeps appending to
  // such a segment rather than leaving it for the next spare (adopt); and a
  // recycled one tells recovery that stale records of older batches follow
  // its end.
  append_segment_header(
      buffer_, SegmentHeader{seq, options_.segment_bytes, prewritten && !recycled, recycled},
      batch);
  const std::size_t header_bytes = buffer_.size();
  if (prewritten) pad_to_page(header_bytes);
  if (IoStatus st = write_fully(*file, 0, buffer_, temp); !st.ok()) return st;
  if (IoStatus st = preallocate(*file, prealloc, temp); !st.ok()) return st;
  if (IoStatus st = file->sync_data(); !st.ok()) return st;
  if (IoStatus st = fs_.rename(temp, path); !st.ok()) return st;
  if (IoStatus st = fs_.sync_dir(dir_); !st.ok()) return st;
  // Only now may batches go in: the file's name and header are durable.
  segments_.push_back(SegmentInfo{seq, path, Slot{}, 0, prewritten});
  active_ = std::move(file);
  active_prewritten_ = prewritten;
  active_end_ = header_bytes;
  tail_.assign(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(header_bytes));
  tail_known_ = prewritten;
  last_batch_ = batch;
  active_since_ = std::chrono::steady_clock::now();
  ++stats_.segments_created;
  stats_.segments = segments_.size();
  prepare_spare(spread);
  return {};
}

IoStatus SegmentLog::append_batch(std::span<const StagedWrite> writes) {
  // A new snapshot's file first: its record must never name a file that a
  // crash could take away.
  std::optional<SnapshotRecord> fresh;  // its record, file size and CRC filled in
  bool fresh_written_behind = false;
  for (const StagedWrite& w : writes) {
    if (w.kind != StagedWrite::Kind::snapshot || w.rewrite) continue;
    fresh_written_behind = w.file_written;
    SnapshotRecord r = w.snapshot_record;
    if (!w.file_written) {
      if (IoStatus st = write_snapshot_file(fs_, dir_, *w.snapshot, &r); !st.ok()) return st;
    }
    fresh = r;
    ++stats_.snapshots_written;
  }
  std::size_t bytes = 0;
  for (const StagedWrite& w : writes) {
    switch (w.kind) {
      case StagedWrite::Kind::entry:
        bytes += entry_record_bytes(w.entry);
        break;
      case StagedWrite::Kind::snapshot:
        bytes += kSnapshotRecordBytes;
        break;
      case StagedWrite::Kind::hard_state:
      case StagedWrite::Kind::compaction:
      case StagedWrite::Kind::group:
      case StagedWrite::Kind::group_removed:
        bytes += kRecordHeaderBytes;
        break;
    }
  }
  bool fresh_segment = active_end_ <= kSegmentHeaderRecordBytes;
  // A fallocated segment is left early for a zeroed spare once it is ready
  // (its rest stays unused until compaction drops it).
  bool full = active_end_ + bytes > options_.segment_bytes;
  bool leave_for_spare = spare_ && !active_prewritten_ && spare_->ready();
  if (!fresh_segment && (full || leave_for_spare)) {
    if (!full) ++stats_.segments_left_early;
    if (IoStatus st = roll(); !st.ok()) return st;
  }
  std::uint64_t batch = last_batch_ + 1;
  std::size_t start = 0;
  const std::uint64_t write_at = begin_batch_buffer(bytes, &start);
  const std::size_t batch_begin = buffer_.size();
  SegmentInfo& seg = segments_.back();
  bool wrote_hard_state = false;
  std::optional<SnapshotRecord> last_snapshot;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    const StagedWrite& w = writes[i];
    bool last = i + 1 == writes.size();
    switch (w.kind) {
      case StagedWrite::Kind::entry:
        append_entry(buffer_, w.entry, batch, last);
        break;
      case StagedWrite::Kind::hard_state:
        append_hard_state(buffer_, w.hard_state, batch, last);
        wrote_hard_state = true;
        break;
      case StagedWrite::Kind::compaction:
        append_compaction(buffer_, w.compacted_below, batch, last);
        break;
      case StagedWrite::Kind::snapshot:
        last_snapshot = w.rewrite ? w.snapshot_record : *fresh;
        append_snapshot(buffer_, *last_snapshot, batch, last);
        break;
      case StagedWrite::Kind::group:
        append_group_record(buffer_, RecordType::group, w.group, batch, last);
        break;
      case StagedWrite::Kind::group_removed:
        append_group_record(buffer_, RecordType::group_removed, w.group, batch, last);
        break;
    }
  }
  const std::size_t batch_bytes = buffer_.size() - batch_begin;
  if (active_prewritten_) pad_to_page(active_end_ + batch_bytes);
  // tail_ changes only once the batch is durable; should the write or sync
  // fail, what the page before active_end_ holds is no longer known (a log
  // is not used after either, but a retry must not rewrite that page from
  // the bytes of a batch that did not count).
  if (IoStatus st = write_batch_bytes(write_at, start, seg.path); !st.ok()) {
    tail_known_ = false;
    return st;
  }
  ++stats_.syncs;
  if (IoStatus st = active_->sync_data(); !st.ok()) {
    tail_known_ = false;
    return st;
  }
  keep_tail(write_at, start, active_end_ + batch_bytes);
  // Durable: account for it.
  // GroupLog orders a batch by group, not by sequence: take the highest.
  for (const StagedWrite& w : writes) {
    if (w.kind == StagedWrite::Kind::entry) seg.max_slot = std::max(seg.max_slot, w.entry.slot);
    seg.last_sequence = std::max(seg.last_sequence, w.sequence);
  }
  if (wrote_hard_state) hard_state_segment_ = seg.seq;
  std::optional<SnapshotRecord> previous = last_snapshot_;
  if (last_snapshot) {
    last_snapshot_ = last_snapshot;
    snapshot_segment_ = seg.seq;
  }
  active_end_ += batch_bytes;
  last_batch_ = batch;
  ++stats_.batches;
  stats_.records += writes.size();
  stats_.bytes_written += batch_bytes;
  if (fresh && previous && previous->slot != fresh->slot) {
    // No record that counts names the old file any more. No directory fsync:
    // if a crash undoes the removal, open removes the file as an orphan.
    std::string old = join_path(dir_, snapshot_file_name(previous->slot));
    // A snapshot written behind leaves the removal behind too: the unlink
    // of a large file took up to 80 ms on a busy disk (LogStorage).
    if (fresh_written_behind) {
      stale_snapshots_.push_back(Removal{std::move(old)});
      return {};
    }
    return fs_.remove(old);
  }
  return {};
}

// In a segment zeroed ahead or recycled, a write runs on to the end of its
// last page (with the zeros already there in a zeroed one; the recovery
// scan relies on them in a recycled one). Such a segment's blocks are all
// written, so rewriting them changes no metadata: the batch goes with
// O_DIRECT from a buffer laid out on page boundaries, with the last page's
// earlier bytes (tail_) in front, and costs neither the page cache's copy
// nor its writeback (docs/storage.md, "Uncached appends"). The page cache
// holds nothing worth keeping here: the log is read back only at recovery.
std::uint64_t SegmentLog::begin_batch_buffer(std::size_t record_bytes, std::size_t* start) {
  constexpr std::uint64_t kPage = kWritePadBytes;
  buffer_.clear();
  *start = 0;
  if (!active_prewritten_ || !tail_known_) {
    buffer_.reserve(record_bytes + kPage);  // and pad_to_page's zeros
    return active_end_;
  }
  // Room for the alignment gap, the tail and the zeros, so that no append
  // moves the buffer once the gap is set.
  buffer_.reserve(record_bytes + 3 * kPage);
  const auto address = reinterpret_cast<std::uintptr_t>(buffer_.data());
  *start = static_cast<std::size_t>((kPage - address % kPage) % kPage);
  buffer_.resize(*start);
  buffer_.insert(buffer_.end(), tail_.begin(), tail_.end());
  return active_end_ - tail_.size();
}

IoStatus SegmentLog::write_batch_bytes(std::uint64_t at, std::size_t start,
                                       const std::string& path) {
  const std::span<const std::byte> out(buffer_.data() + start, buffer_.size() - start);
  if (active_prewritten_ && tail_known_) return active_->write_uncached(at, out);
  return write_fully(*active_, at, out, path);
}

void SegmentLog::keep_tail(std::uint64_t at, std::size_t start, std::uint64_t batch_end) {
  const std::uint64_t page = batch_end / kWritePadBytes * kWritePadBytes;
  tail_known_ = active_prewritten_ && page >= at;
  if (!tail_known_) return;
  const auto from = static_cast<std::ptrdiff_t>(start + (page - at));
  tail_.assign(buffer_.begin() + from,
               buffer_.begin() + from + static_cast<std::ptrdiff_t>(batch_end - page));
}

void SegmentLog::pad_to_page(std::uint64_t end) {
  constexpr std::uint64_t kPage = kWritePadBytes;
  std::uint64_t padded =
      std::max(end, std::min((end + kPage - 1) / kPage * kPage, options_.segment_bytes));
  buffer_.resize(buffer_.size() + static_cast<std::size_t>(padded - end));  // zeros
}

std::size_t SegmentLog::droppable(Slot below) const {
  std::size_t n = 0;
  while (n + 1 < segments_.size() && segments_[n].max_slot < below) ++n;
  return n;
}

bool SegmentLog::hard_state_within(std::size_t count) const {
  return hard_state_segment_ != 0 && count > 0 && hard_state_segment_ <= segments_[count - 1].seq;
}

bool SegmentLog::snapshot_within(std::size_t count) const {
  return snapshot_segment_ != 0 && count > 0 && snapshot_segment_ <= segments_[count - 1].seq;
}

std::uint64_t SegmentLog::last_sequence_within(std::size_t count) const {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < count; ++i) s = std::max(s, segments_[i].last_sequence);
  return s;
}

IoStatus SegmentLog::drop_oldest(std::size_t count) {
  std::size_t removed = 0;
  IoStatus result;
  SegmentSpare* recycler = this->recycler();
  for (; removed < count; ++removed) {
    const SegmentInfo& seg = segments_[removed];
    if (recycler && seg.prewritten && recycler->recycle(seg.path, seg.seq)) continue;
    result = fs_.remove(seg.path);
    if (!result.ok()) break;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(removed));
  stats_.segments_removed += removed;
  stats_.segments = segments_.size();
  if (!result.ok()) return result;
  return fs_.sync_dir(dir_);
}

std::vector<Removal> SegmentLog::take_stale_snapshots() {
  return std::exchange(stale_snapshots_, {});
}

SegmentSpare* SegmentLog::recycler() const {
  return options_.recycle_segments ? spare_.get() : nullptr;
}

std::vector<Removal> SegmentLog::detach_oldest(std::size_t count) {
  std::vector<Removal> paths;
  for (std::size_t i = 0; i < count; ++i)
    paths.push_back(
        Removal{segments_[i].path, recycler() && segments_[i].prewritten ? segments_[i].seq : 0});
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(count));
  stats_.segments_removed += count;
  stats_.segments = segments_.size();
  return paths;
}

LogPosition SegmentLog::end() const {
  if (segments_.empty()) return {};
  return LogPosition{segments_.back().seq, segments_.back().path, active_end_};
}

LogStats SegmentLog::stats() const {
  LogStats s = stats_;
  if (spare_) {
    const SegmentSpare::Counters c = spare_->counters();
    s.spares_taken = c.taken;
    s.spares_missed = c.missed;
    s.spares_zeroed = c.zeroed;
    s.segments_recycled = c.recycled;
  }
  return s;
}

std::uint64_t SegmentLog::oldest_last_sequence() const {
  return segments_.empty() ? 0 : segments_.front().last_sequence;
}

}  // namespace synod::storage
