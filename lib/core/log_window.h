// The replica's view of the log: per slot the highest-ballot accepted value,
// and the chosen prefix [1, commit]. Holes are allowed above commit. Slots
// below first() were compacted into a snapshot and hold nothing.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include "synod/types.h"
#include "synod/value.h"

namespace synod::detail {

struct Record {
  bool present = false;
  Ballot ballot{};
  Value value{};
};

class LogWindow {
 public:
  // The record at s, or nullptr when the slot holds nothing. Hot: every
  // commit, apply and accept looks slots up, so it is inline.
  const Record* find(Slot s) const {
    if (s < first_ || s > last_) return nullptr;
    const Record& r = at(s);
    return r.present ? &r : nullptr;
  }

  // Phase 2b. Invariant: the accepted ballot of a slot never decreases, and a
  // slot at or below commit never changes value.
  void accept(Slot s, Ballot b, const Value& v);
  // A value learnt as chosen (catch-up). Keeps the higher of the two ballots
  // so invariant 2 holds; the value is the chosen one.
  void store_chosen(Slot s, Ballot b, const Value& v);

  // Highest slot holding a record; first().prev() when none does.
  Slot last() const { return last_; }
  // Lowest slot that may hold a record: every slot below was compacted.
  Slot first() const { return first_; }
  // Invariant: every slot in [1, commit] holds its chosen value.
  Slot commit() const { return commit_; }
  // Precondition: every slot in (commit, to] is present and chosen.
  void advance_commit(Slot to);

  // Recovery from a snapshot: every slot below `first` is chosen and held by
  // the snapshot. Precondition: nothing stored yet.
  void start_at(Slot first);
  // Forget every record below `first` (compaction into a snapshot).
  // Precondition: first <= commit + 1.
  void drop_below(Slot first);
  // A snapshot of the chosen prefix up to `slot` replaces the records: slots
  // up to it are chosen and hold nothing here; records above it stay.
  // Precondition: slot > commit.
  void install(Slot slot);

  // Present records in [lo, hi], ascending, stopping once bytes_max is passed
  // (at least one record when any is present). *next is where to continue.
  std::vector<Entry> collect(Slot lo, Slot hi, std::size_t bytes_max, Slot* next) const;

 private:
  Record& slot_ref(Slot s);

  // Records live in fixed chunks of a power-of-two size, by absolute slot: an
  // index is a shift and a mask, growing never moves a record, a chunk is one
  // allocation for 64 slots, and compaction frees whole chunks from the
  // front. 64, not more: every group that ever accepted holds at least one
  // chunk, and a process holds thousands of groups (docs/groups.md); one
  // allocation per 64 slots is nothing beside the slots' commands.
  static constexpr unsigned chunk_bits = 6;
  static constexpr std::uint64_t chunk_records = std::uint64_t{1} << chunk_bits;
  const Record& at(Slot s) const {
    return chunks_[(s.value >> chunk_bits) - chunk0_][s.value & (chunk_records - 1)];
  }
  Record& at(Slot s) {
    return chunks_[(s.value >> chunk_bits) - chunk0_][s.value & (chunk_records - 1)];
  }

  // Invariant: chunks_[i] holds slots [(chunk0_ + i) << chunk_bits, ...), and
  // every slot in [first_, last_] lies in one of them.
  std::deque<std::unique_ptr<Record[]>> chunks_;
  std::uint64_t chunk0_ = 0;
  Slot first_{1};
  Slot last_{};
  Slot commit_{};
};

}  // namespace synod::detail
