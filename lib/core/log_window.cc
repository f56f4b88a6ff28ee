#include "log_window.h"

#include <algorithm>

#include "assert.h"

namespace synod::detail {

Record& LogWindow::slot_ref(Slot s) {
  SYNOD_ASSERT(s >= first_, "slot {} below the window start {}", s.value, first_.value);
  if (chunks_.empty()) chunk0_ = first_.value >> chunk_bits;
  // The chunk index below would wrap (and the loop grow without end).
  SYNOD_ASSERT((s.value >> chunk_bits) >= chunk0_, "slot {} below the first chunk {}", s.value,
               chunk0_);
  // Slots between the old end and s become holes (present = false).
  while (((s.value >> chunk_bits) - chunk0_) >= chunks_.size())
    chunks_.push_back(std::make_unique<Record[]>(chunk_records));
  if (s > last_) last_ = s;
  return at(s);
}

void LogWindow::drop_below(Slot first) {
  if (first <= first_) return;
  SYNOD_ASSERT(first <= commit_.next(), "compaction to {} past the commit index {}", first.value,
               commit_.value);
  std::uint64_t keep_chunk = first.value >> chunk_bits;
  while (!chunks_.empty() && chunk0_ < keep_chunk) {
    chunks_.pop_front();
    ++chunk0_;
  }
  // Records below `first` in the chunk that stays give back their values.
  if (!chunks_.empty()) {
    Slot s = std::max(first_, Slot{chunk0_ << chunk_bits});
    for (; s < first && s <= last_; s = s.next()) at(s) = Record{};
  }
  first_ = first;
  if (last_ < first_.prev()) last_ = first_.prev();
  if (chunks_.empty()) chunk0_ = first_.value >> chunk_bits;
  // The chunk of the window's first slot is still held (slot_ref indexes
  // from chunk0_).
  SYNOD_ASSERT(chunk0_ <= (first_.value >> chunk_bits), "first chunk {} past slot {}", chunk0_,
               first_.value);
  // Compaction drops chosen slots only: the commit index stays in the window.
  SYNOD_ASSERT(commit_ >= first_.prev() && last_ >= commit_, "window [{}, {}] lost commit {}",
               first_.value, last_.value, commit_.value);
}

void LogWindow::start_at(Slot first) {
  SYNOD_ASSERT(chunks_.empty() && commit_.value == 0, "start_at on a used log window");
  // Slots start at 1: the commit index below would wrap.
  SYNOD_ASSERT(first.value >= 1, "a log window starting at slot 0");
  first_ = first;
  last_ = first.prev();
  commit_ = first.prev();
  chunk0_ = first.value >> chunk_bits;
}

void LogWindow::install(Slot slot) {
  SYNOD_ASSERT(slot > commit_, "snapshot at {} is not past the commit index {}", slot.value,
               commit_.value);
  commit_ = slot;
  drop_below(slot.next());
  // The snapshot and the window meet: nothing at or below it stays, nothing
  // above it went.
  SYNOD_ASSERT(first_ == slot.next() && commit_ == slot, "snapshot {} installed as window [{}, {}]",
               slot.value, first_.value, last_.value);
}

void LogWindow::accept(Slot s, Ballot b, const Value& v) {
  Record& r = slot_ref(s);
  if (r.present) {
    SYNOD_ASSERT(b >= r.ballot, "slot {}: accepted ballot would go back from {} to {}", s.value,
                 r.ballot.round, b.round);
    if (s <= commit_) {
      SYNOD_ASSERT(r.value == v, "slot {}: a chosen value would change", s.value);
      r.ballot = b;
      return;
    }
  }
  r.present = true;
  r.ballot = b;
  r.value = v;
  SYNOD_ASSERT(s > commit_ && s <= last_, "slot {} accepted outside ({}, {}]", s.value,
               commit_.value, last_.value);
}

void LogWindow::store_chosen(Slot s, Ballot b, const Value& v) {
  Record& r = slot_ref(s);
  if (r.present && s <= commit_)
    SYNOD_ASSERT(r.value == v, "slot {}: two different chosen values", s.value);
  if (!r.present || r.ballot < b) r.ballot = b;
  r.present = true;
  r.value = v;
}

void LogWindow::advance_commit(Slot to) {
  for (Slot s = commit_.next(); s <= to; s = s.next())
    SYNOD_ASSERT(find(s) != nullptr, "commit to {} over the hole at {}", to.value, s.value);
  if (to > commit_) commit_ = to;
  SYNOD_ASSERT(commit_ <= last_, "commit {} past the last slot {}", commit_.value, last_.value);
}

std::vector<Entry> LogWindow::collect(Slot lo, Slot hi, std::size_t bytes_max, Slot* next) const {
  std::vector<Entry> out;
  std::size_t bytes = 0;
  Slot s = lo < first_ ? first_ : lo;
  Slot end = hi < last() ? hi : last();
  for (; s <= end; s = s.next()) {
    const Record* r = find(s);
    if (!r) continue;
    // Wire cost: the bytes, a length per command, and the entry's fields.
    std::size_t size = r->value.byte_size() + 8 * r->value.commands().size() + 64;
    if (!out.empty() && bytes + size > bytes_max) break;
    bytes += size;
    out.push_back(Entry{s, r->ballot, r->value});
  }
  *next = s;
  // The next chunk starts right after this one: chunks neither overlap nor
  // skip a slot.
  SYNOD_ASSERT(out.empty() || *next > out.back().slot, "next chunk at {} within this one",
               next->value);
  SYNOD_ASSERT(out.empty() || (out.front().slot >= lo && out.back().slot <= hi),
               "collected slots outside [{}, {}]", lo.value, hi.value);
  return out;
}

}  // namespace synod::detail
