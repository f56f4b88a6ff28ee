// The replica's view of the log: per slot the highest-ballot accepted value,
// and the chosen prefix [1, commit]. Holes are allowed above commit.
#pragma once

#include <cstddef>
#include <deque>
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
  // The record at s, or nullptr when the slot holds nothing.
  const Record* find(Slot s) const;

  // Phase 2b. Invariant: the accepted ballot of a slot never decreases, and a
  // slot at or below commit never changes value.
  void accept(Slot s, Ballot b, const Value& v);
  // A value learnt as chosen (catch-up). Keeps the higher of the two ballots
  // so invariant 2 holds; the value is the chosen one.
  void store_chosen(Slot s, Ballot b, const Value& v);

  // Highest slot holding a record; Slot{0} when empty.
  Slot last() const { return Slot{first_.value + records_.size() - 1}; }
  // Invariant: every slot in [1, commit] holds its chosen value.
  Slot commit() const { return commit_; }
  // Precondition: every slot in (commit, to] is present and chosen.
  void advance_commit(Slot to);

  // Present records in [lo, hi], ascending, stopping once bytes_max is passed
  // (at least one record when any is present). *next is where to continue.
  std::vector<Entry> collect(Slot lo, Slot hi, std::size_t bytes_max, Slot* next) const;

 private:
  Record& slot_ref(Slot s);

  std::deque<Record> records_;  // records_[i] holds slot first_ + i
  Slot first_{1};
  Slot commit_{};
};

}  // namespace synod::detail
