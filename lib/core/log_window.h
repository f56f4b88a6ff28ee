// The replica's view of the log: per slot the highest-ballot accepted value,
// and the chosen prefix [1, commit]. Holes are allowed above commit.
#pragma once

#include <cstddef>
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
    if (s < first_ || s.value - first_.value >= size_) return nullptr;
    const Record& r = at(s.value - first_.value);
    return r.present ? &r : nullptr;
  }

  // Phase 2b. Invariant: the accepted ballot of a slot never decreases, and a
  // slot at or below commit never changes value.
  void accept(Slot s, Ballot b, const Value& v);
  // A value learnt as chosen (catch-up). Keeps the higher of the two ballots
  // so invariant 2 holds; the value is the chosen one.
  void store_chosen(Slot s, Ballot b, const Value& v);

  // Highest slot holding a record; Slot{0} when empty.
  Slot last() const { return Slot{first_.value + size_ - 1}; }
  // Invariant: every slot in [1, commit] holds its chosen value.
  Slot commit() const { return commit_; }
  // Precondition: every slot in (commit, to] is present and chosen.
  void advance_commit(Slot to);

  // Present records in [lo, hi], ascending, stopping once bytes_max is passed
  // (at least one record when any is present). *next is where to continue.
  std::vector<Entry> collect(Slot lo, Slot hi, std::size_t bytes_max, Slot* next) const;

 private:
  Record& slot_ref(Slot s);

  // Records live in fixed chunks of a power-of-two size: an index is a shift
  // and a mask (std::deque divides by its 10-record blocks), growing never
  // moves a record, and a chunk is one allocation for 1024 slots.
  static constexpr unsigned chunk_bits = 10;
  static constexpr std::size_t chunk_records = std::size_t{1} << chunk_bits;
  const Record& at(std::size_t i) const {
    return chunks_[i >> chunk_bits][i & (chunk_records - 1)];
  }
  Record& at(std::size_t i) { return chunks_[i >> chunk_bits][i & (chunk_records - 1)]; }

  // Invariant: record i (slot first_ + i) exists for i < size_, and
  // chunks_.size() * chunk_records >= size_.
  std::vector<std::unique_ptr<Record[]>> chunks_;
  std::size_t size_ = 0;
  Slot first_{1};
  Slot commit_{};
};

}  // namespace synod::detail
