// GroupLog compaction: which segment may go, and the straggler rewrite.
// The rule (docs/storage.md, "Many groups in one log"): the oldest segment
// goes once no group has a live entry in it (each group's snapshot keep_from
// is above its entries there, or later records replaced them). Latest hard
// state and snapshot records in it are rewritten at the head first, as
// LogStorage does. When more than straggler_segments segments are kept and
// at most straggler_groups groups pin the oldest with under half a segment of
// live entries in it, those entries are rewritten at the head too, so one
// idle group cannot hold the disk.
#include <vector>

#include "group_state.h"
#include "record_format.h"
#include "segment_log.h"
#include "synod/group_log.h"

namespace synod {

using storage::GroupState;
using storage::StagedWrite;

namespace {

// Bytes the pinning groups' live entries at or below `upto` take as records.
// Above half a segment the groups are not idle stragglers but hold that much
// live data: moving it would only copy it around.
std::uint64_t live_bytes(const std::vector<GroupState*>& pinning, std::uint64_t upto) {
  std::uint64_t bytes = 0;
  for (const GroupState* g : pinning)
    for (const auto& [slot, e] : g->index)
      if (e.sequence <= upto) bytes += storage::entry_record_bytes(e.entry);
  return bytes;
}

}  // namespace

Status GroupLog::compact_locked() {
  // Only a snapshot, a removal or a new segment can make a segment droppable.
  if (!compaction_due_ && segments_->segment_count() == checked_segments_) return Status::ok;
  compaction_due_ = false;
  // Each segment present now is considered once: rewrites that roll into new
  // segments must not make this loop chase its own tail.
  std::size_t budget = segments_->segment_count() - 1;
  for (; budget > 0 && segments_->segment_count() >= 2; --budget) {
    std::uint64_t upto = segments_->oldest_last_sequence();
    std::vector<GroupState*> pinning;
    for (auto& [id, g] : groups_) {
      if (!g->pins(upto)) continue;
      pinning.push_back(g.get());
      if (pinning.size() > options_.straggler_groups) break;
    }
    bool stragglers = !pinning.empty();
    if (stragglers && (segments_->segment_count() - 1 <= options_.straggler_segments ||
                       pinning.size() > options_.straggler_groups ||
                       live_bytes(pinning, upto) > options_.log.segment_bytes / 2)) {
      ++counters_.compactions_blocked;
      break;
    }
    std::uint64_t seq = ++saved_sequence_;
    std::vector<StagedWrite> moved;
    auto move = [&](StagedWrite w, GroupId id) {
      w.group = id;
      moved.push_back(std::move(w));
    };
    for (GroupState* g : pinning) {
      for (auto& [slot, e] : g->index) {
        if (e.sequence > upto) continue;
        move(StagedWrite::of_entry(seq, e.entry), g->id_);
        e.sequence = seq;
        ++counters_.entries_rewritten;
      }
    }
    for (auto& [id, g] : groups_) {
      if (g->hard_sequence != 0 && g->hard_sequence <= upto) {
        move(StagedWrite::of_hard_state(seq, g->hard), id);
        g->hard_sequence = seq;
        ++counters_.records_rewritten;
      }
      if (g->durable_snapshot && g->snapshot_sequence <= upto) {
        move(StagedWrite::of_snapshot_rewrite(seq, *g->durable_snapshot), id);
        g->snapshot_sequence = seq;
        ++counters_.records_rewritten;
      }
    }
    // Durably at the head before the segment goes: a crash between finds
    // both copies, and the later one wins.
    if (!moved.empty()) {
      if (Status st = write_batch_locked(std::move(moved)); st != Status::ok) return st;
    }
    if (IoStatus st = segments_->drop_oldest(1); !st.ok()) return fail_locked(st);
    if (stragglers) ++counters_.straggler_drops;
  }
  checked_segments_ = segments_->segment_count();
  return Status::ok;
}

}  // namespace synod
