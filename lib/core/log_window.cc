#include "log_window.h"

#include "assert.h"

namespace synod::detail {

Record& LogWindow::slot_ref(Slot s) {
  SYNOD_ASSERT(s >= first_, "slot {} below the window start {}", s.value, first_.value);
  std::size_t i = s.value - first_.value;
  if (i >= size_) {
    // Slots between the old end and s become holes (present = false).
    while (chunks_.size() * chunk_records <= i)
      chunks_.push_back(std::make_unique<Record[]>(chunk_records));
    size_ = i + 1;
  }
  return at(i);
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
  return out;
}

}  // namespace synod::detail
