// Recovery of the durable log. See log_recovery.h for the rule that tells a
// torn tail from corruption; this file applies it segment by segment.
#include "log_recovery.h"

#include <fmt/format.h>

#include <algorithm>

#include "../core/assert.h"
#include "record_format.h"
#include "segment_log.h"
#include "segment_scan.h"
#include "segment_spare.h"

namespace synod::storage {
namespace {

IoStatus corrupt(const std::string& path, std::uint64_t offset, std::string_view why) {
  return IoStatus::failure(Status::corrupt,
                           fmt::format("corrupt log: {} at offset {}: {}", path, offset, why));
}

// Segment numbers found in dir, ascending; removes half-created segments.
IoStatus list_segments(FileSystem& fs, const std::string& dir, std::vector<std::uint64_t>* seqs,
                       RecoveryReport* report) {
  std::vector<std::string> names;
  if (IoStatus st = fs.list(dir, &names); !st.ok()) return st;
  std::uint64_t seq = 0;
  for (const std::string& name : names) {
    std::string_view n = name;
    if (n.ends_with(kTempSuffix) &&
        parse_segment_file_name(n.substr(0, n.size() - kTempSuffix.size()), &seq)) {
      // A roll that crashed before its rename: never held a batch.
      if (IoStatus st = fs.remove(join_path(dir, name)); !st.ok()) return st;
      ++report->temp_files_removed;
    } else if (is_spare_file_name(n)) {
      // A segment zeroed ahead (segment_spare.h) that no roll took.
      if (IoStatus st = fs.remove(join_path(dir, name)); !st.ok()) return st;
      ++report->temp_files_removed;
    } else if (parse_segment_file_name(n, &seq)) {
      seqs->push_back(seq);
    }
  }
  if (report->temp_files_removed > 0) {
    if (IoStatus st = fs.sync_dir(dir); !st.ok()) return st;
  }
  std::sort(seqs->begin(), seqs->end());
  for (std::size_t i = 1; i < seqs->size(); ++i) {
    if ((*seqs)[i] != (*seqs)[i - 1] + 1)
      return corrupt(join_path(dir, segment_file_name((*seqs)[i])), 0,
                     fmt::format("segment {} follows segment {}: a segment is missing", (*seqs)[i],
                                 (*seqs)[i - 1]));
  }
  // Recovery replays segments in order, each once.
  SYNOD_ASSERT(seqs->empty() || seqs->back() - seqs->front() + 1 == seqs->size(),
               "segments {}..{} are not {} in a row", seqs->front(), seqs->back(), seqs->size());
  return {};
}

IoStatus read_all(File& file, const std::string& path, std::vector<std::byte>* bytes) {
  std::uint64_t size = 0;
  if (IoStatus st = file.size(&size); !st.ok()) return st;
  bytes->resize(static_cast<std::size_t>(size));
  std::size_t got = 0;
  if (IoStatus st = file.read_at(0, *bytes, &got); !st.ok()) return st;
  if (got != size)
    return IoStatus::failure(Status::storage_error,
                             fmt::format("read {}: {} of {} bytes", path, got, size));
  return {};
}

// Walks one segment's chain of valid records, checks its structure, and
// applies each complete batch to `out`.
class SegmentWalk {
 public:
  SegmentWalk(RecoveredLog& out, std::uint64_t seq, std::string path, bool grouped)
      : out_(out), info_{seq, std::move(path), Slot{}, 0}, grouped_(grouped) {}

  // Checks and applies the chain; returns corruption for a structural fault.
  IoStatus walk(const SegmentScan& scan, bool first_segment) {
    for (const ScannedRecord& r : scan.chain) {
      if (IoStatus st = check(r, first_segment); !st.ok()) return st;
      pending_.push_back(&r);
      if (r.record.header.batch_end()) apply_pending();
      prev_ = r.record.header;
      has_prev_ = true;
      // A group record's scope ends with its batch.
      if (prev_.batch_end()) in_group_ = false;
    }
    return {};
  }

  bool has_prev() const { return has_prev_; }
  const RecordHeader& prev() const { return prev_; }
  // Offset after the last record that ended a batch.
  std::uint64_t complete_end() const { return complete_end_; }
  SegmentInfo& info() { return info_; }

 private:
  IoStatus check(const ScannedRecord& r, bool first_segment) {
    const RecordHeader& h = r.record.header;
    if (!has_prev_) {
      if (h.type != RecordType::segment_header)
        return corrupt(info_.path, r.offset, "the first record is not a segment header");
      if (segment_header_of(r.record).segment_seq != info_.seq)
        return corrupt(info_.path, r.offset, "the header names another segment");
      if (!first_segment && h.batch != out_.last_batch + 1)
        return corrupt(info_.path, r.offset,
                       fmt::format("batch {} follows batch {} of the previous segment", h.batch,
                                   out_.last_batch));
      return {};
    }
    if (h.type == RecordType::segment_header)
      return corrupt(info_.path, r.offset, "a segment header after the start");
    std::uint64_t expected = prev_.batch_end() ? prev_.batch + 1 : prev_.batch;
    if (h.batch != expected)
      return corrupt(info_.path, r.offset,
                     fmt::format("batch {} where batch {} was expected", h.batch, expected));
    return check_group(r);
  }

  IoStatus check_group(const ScannedRecord& r) {
    RecordType type = r.record.header.type;
    if (type == RecordType::group || type == RecordType::group_removed) {
      if (!grouped_)
        return corrupt(info_.path, r.offset,
                       "a group record in a single-group log (a GroupLog's directory?)");
      in_group_ = type == RecordType::group;
      return {};
    }
    if (grouped_ && !in_group_)
      return corrupt(info_.path, r.offset,
                     "a record outside any group in a many-group log (a LogStorage's directory?)");
    return {};
  }

  // A batch is applied whole or not at all (a torn batch was never synced, so
  // nothing in it was promised or accepted to anyone: docs/invariants.md,
  // invariant 6).
  void apply_pending() {
    SYNOD_ASSERT(!pending_.empty() && pending_.back()->record.header.batch_end(),
                 "applying a batch that did not end");
    RecoveredGroup* group = &out_;  // a many-group log's records follow a group record
    for (const ScannedRecord* r : pending_) {
      const RecordHeader& h = r->record.header;
      SYNOD_ASSERT(h.batch == pending_.front()->record.header.batch, "batch {} mixed into batch {}",
                   h.batch, pending_.front()->record.header.batch);
      SYNOD_ASSERT(r->offset + r->record.record_bytes > complete_end_,
                   "record at {} replayed behind the end {}", r->offset, complete_end_);
      // Batches replay in the order written, across segments too, so the
      // last hard state and entry of a slot recovered are the last written.
      SYNOD_ASSERT(out_.report.records == 0 || h.batch >= out_.last_batch,
                   "batch {} replayed after batch {}", h.batch, out_.last_batch);
      if (h.type == RecordType::group) {
        group = &out_.groups[GroupId{h.slot.value}];
      } else if (h.type == RecordType::group_removed) {
        out_.groups.erase(GroupId{h.slot.value});
      } else if (h.type == RecordType::entry) {
        Entry e = entry_of(r->record);
        info_.max_slot = std::max(info_.max_slot, e.slot);
        group->entries[e.slot.value] = RecoveredEntry{std::move(e), h.batch};
        group->written = true;
      } else if (h.type == RecordType::hard_state) {
        group->hard = hard_state_of(r->record);
        group->hard_state_segment = info_.seq;
        group->hard_state_batch = h.batch;
        group->written = true;
      } else if (h.type == RecordType::compaction) {
        group->compacted_below = std::max(group->compacted_below, h.slot);
      } else if (h.type == RecordType::snapshot) {
        group->snapshot = snapshot_record_of(r->record);
        group->snapshot_segment = info_.seq;
        group->snapshot_batch = h.batch;
        group->written = true;
      }
      ++out_.report.records;
      complete_end_ = r->offset + r->record.record_bytes;
      info_.last_sequence = h.batch;
      out_.last_batch = h.batch;
    }
    pending_.clear();
  }

  RecoveredLog& out_;
  SegmentInfo info_;
  std::vector<const ScannedRecord*> pending_;  // the current batch, not yet complete
  RecordHeader prev_{};
  bool has_prev_ = false;
  bool grouped_ = false;
  bool in_group_ = false;  // a group record opened the current batch's scope
  std::uint64_t complete_end_ = 0;
};

// Cuts the last segment at `at`, restores its preallocation, syncs the cut.
IoStatus cut_tail(File& file, const LogOptions& options, const std::string& path,
                  std::uint64_t at) {
  if (IoStatus st = file.truncate(at); !st.ok()) return st;
  if (IoStatus st = preallocate(file, options, path); !st.ok()) return st;
  return file.sync_data();
}

// Decides what damage or an unfinished batch at the end of a segment means.
// Returns corruption, or ok with *cut set when the tail must go.
IoStatus judge_tail(const SegmentScan& scan, const SegmentWalk& walk, const std::string& path,
                    bool last, std::string* cut_reason) {
  // Complete batches lie within the valid chain: a cut never takes one.
  SYNOD_ASSERT(walk.complete_end() <= scan.chain_end, "{}: batches end at {}, past the chain's {}",
               path, walk.complete_end(), scan.chain_end);
  bool unfinished = walk.complete_end() < scan.chain_end;
  if (!last) {
    if (scan.damaged)
      return corrupt(path, scan.chain_end,
                     fmt::format("{}, and a later segment exists, so these bytes were synced",
                                 describe(scan.damage)));
    if (unfinished)
      return corrupt(path, walk.complete_end(),
                     "an unfinished batch ends a segment that is not the last");
    return {};
  }
  if (scan.damaged) {
    // The damaged bytes belong to this batch; a later one proves it synced.
    std::uint64_t damaged_batch =
        walk.prev().batch_end() ? walk.prev().batch + 1 : walk.prev().batch;
    for (const ResyncHit& hit : scan.beyond) {
      if (hit.batch != damaged_batch)
        return corrupt(path, scan.chain_end,
                       fmt::format("{}, but a valid record of batch {} at offset {} follows, so "
                                   "these bytes were synced",
                                   describe(scan.damage), hit.batch, hit.offset));
    }
    *cut_reason =
        fmt::format("torn write at offset {} ({})", scan.chain_end, describe(scan.damage));
  } else if (unfinished) {
    *cut_reason =
        fmt::format("batch {} unfinished at offset {}", walk.prev().batch, scan.chain_end);
  }
  return {};
}

IoStatus recover_segment(FileSystem& fs, const LogOptions& options, std::uint64_t seq,
                         const std::string& path, bool last, bool grouped, RecoveredLog& out) {
  std::unique_ptr<File> file;
  if (IoStatus st = fs.open(path, OpenMode::read_write, &file); !st.ok()) return st;
  std::vector<std::byte> bytes;
  if (IoStatus st = read_all(*file, path, &bytes); !st.ok()) return st;
  SegmentScan scan = scan_segment(bytes);
  if (scan.chain.empty())
    return corrupt(path, 0, fmt::format("no valid segment header ({})", describe(scan.damage)));
  SegmentWalk walk(out, seq, path, grouped);
  if (IoStatus st = walk.walk(scan, out.segments.empty()); !st.ok()) return st;
  std::string cut_reason;
  if (IoStatus st = judge_tail(scan, walk, path, last, &cut_reason); !st.ok()) return st;
  const SegmentHeader header = segment_header_of(scan.chain.front().record);
  walk.info().prewritten = header.zeroed || header.recycled;
  ++out.report.segments;
  out.segments.push_back(walk.info());
  if (!last) return {};
  out.active_end = walk.complete_end();
  out.active_prewritten = header.zeroed || header.recycled;
  // A cut shortens the file, never extends it.
  SYNOD_ASSERT(out.active_end <= bytes.size(), "{}: end {} past the file's {} bytes", path,
               out.active_end, bytes.size());
  if (!cut_reason.empty()) {
    if (IoStatus st = cut_tail(*file, options, path, out.active_end); !st.ok()) return st;
    if (options.preallocation == Preallocation::write_zeros) out.active_prewritten = true;
    out.report.truncated_file = path;
    out.report.truncated_at_offset = out.active_end;
    out.report.truncation_reason = std::move(cut_reason);
  }
  out.active = std::move(file);
  return {};
}

}  // namespace

RecoveredLog recover_log(FileSystem& fs, const std::string& dir, const LogOptions& options,
                         bool grouped) {
  RecoveredLog out;
  std::vector<std::uint64_t> seqs;
  out.status = list_segments(fs, dir, &seqs, &out.report);
  for (std::size_t i = 0; out.status.ok() && i < seqs.size(); ++i) {
    std::string path = join_path(dir, segment_file_name(seqs[i]));
    out.status = recover_segment(fs, options, seqs[i], path, i + 1 == seqs.size(), grouped, out);
  }
  out.report.last_batch = out.last_batch;
  // Segments were replayed in order, so the hard state (the promise,
  // docs/invariants.md invariant 1) and each slot's entry recovered are the
  // last ones written: batches never go back from one segment to the next.
  for (std::size_t i = 1; out.status.ok() && i < out.segments.size(); ++i)
    SYNOD_ASSERT(out.segments[i].seq == out.segments[i - 1].seq + 1 &&
                     out.segments[i].last_sequence >= out.segments[i - 1].last_sequence,
                 "segment {} replayed out of order", out.segments[i].seq);
  return out;
}

}  // namespace synod::storage
