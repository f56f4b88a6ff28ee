// The WGL search's steps (wgl_search.h), and the witness's reasons.
#include "wgl_search.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <utility>

namespace synod::sim::wgl {

// Why m cannot go next in state (for the witness).
std::string why_not(const ModelOp& m, Value state, const std::optional<std::string>& holds) {
  if (apply(m, state)) return "legal here, but every order that starts with it fails later";
  if (m.op->kind == LinOp::Kind::read)
    return fmt::format("it saw {}, but the key holds {}", quote(m.op->value), quote(holds));
  if (m.op->swapped)
    return fmt::format("it swapped, but the key holds {}, not {}", quote(holds),
                       quote(m.op->expected));
  return fmt::format("it kept the value, but the key holds {}, which it expected", quote(holds));
}

void KeySearch::build_list() {
  // Calls before returns at one time (they overlap); the returns of unknown
  // operations last, where the search never reaches them.
  struct Event {
    std::uint64_t time;
    int rank;  // 0 call, 1 return, 2 unknown return
    std::size_t entry;
  };
  std::vector<Event> events;
  events.reserve(2 * n_);
  for (std::size_t i = 0; i < n_; ++i) {
    const LinOp& op = *ops_[i].op;
    events.push_back({op.call, 0, call_of(i)});
    if (op.unknown)
      events.push_back({kNeverReturned, 2, return_of(i)});
    else
      events.push_back({op.ret, 1, return_of(i)});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.entry < b.entry;
  });
  prev_.assign(2 * n_ + 1, 0);
  next_.assign(2 * n_ + 1, kEnd);
  std::size_t last = 0;
  for (const Event& ev : events) {
    next_[last] = ev.entry;
    prev_[ev.entry] = last;
    last = ev.entry;
  }
  bits_.assign((n_ + 63) / 64, 0);
}

std::vector<std::uint64_t> KeySearch::known_mask() const {
  std::vector<std::uint64_t> mask((n_ + 63) / 64, 0);
  for (std::size_t i = 0; i < n_; ++i)
    if (!ops_[i].op->unknown) mask[i / 64] |= std::uint64_t{1} << (i % 64);
  return mask;
}

void KeySearch::note_stuck(std::size_t returning_entry) {
  if (stuck_seen_ && stack_.size() <= stuck_.prefix.size()) return;
  stuck_seen_ = true;
  stuck_.prefix.clear();
  for (const Frame& f : stack_) stuck_.prefix.push_back(f.op);
  stuck_.state = state_;
  stuck_.returning = op_of(returning_entry);
  stuck_.pending.clear();
  for (std::size_t e = next_[0]; e != returning_entry; e = next_[e])
    if (is_call(e)) stuck_.pending.push_back(op_of(e));
}

bool KeySearch::take(std::size_t i, Value after, bool alone) {
  flip(i);
  if (!seen_.insert(bits_, bits_hash_, after) ||
      (has_unknown_ && failed_.covers(bits_, known_hash_, after))) {
    flip(i);
    return false;
  }
  stack_.push_back({i, state_, alone});
  state_ = after;
  if (!ops_[i].op->unknown) --known_left_;
  lift(i);
  return true;
}

std::optional<std::size_t> KeySearch::backtrack() {
  while (!stack_.empty()) {
    if (has_unknown_) failed_.add(bits_, known_hash_, state_);
    Frame f = stack_.back();
    stack_.pop_back();
    state_ = f.before;
    flip(f.op);
    if (!ops_[f.op].op->unknown) ++known_left_;
    unlift(f.op);
    if (!f.alone) return f.op;
  }
  return std::nullopt;
}

std::size_t KeySearch::find_legal_observer() const {
  for (std::size_t e = next_[0]; e != kEnd && is_call(e); e = next_[e]) {
    const ModelOp& m = ops_[op_of(e)];
    bool observes = m.op->kind == LinOp::Kind::read ||
                    (m.op->kind == LinOp::Kind::cas && !m.op->unknown && !m.op->swapped);
    if (observes && apply(m, state_)) return e;
  }
  return kEnd;
}

// Unknown operations can always move later (nothing has to follow them), and
// can be left out. So some order that works, if any does, takes an unknown
// operation only right before something that needs it: a known operation
// that cannot take effect before it and can after, or an unknown
// compare-and-set that expects the value it leaves (the pair then needed by a
// known one). Any other unknown operation taken here would be left out, or
// moved past what follows it.
bool KeySearch::worth_taking(std::size_t u, Value after) const {
  if (after == state_) return false;
  for (std::size_t e = next_[0]; e != kEnd && is_call(e); e = next_[e]) {
    const ModelOp& m = ops_[op_of(e)];
    if (m.op->unknown) {
      if (op_of(e) != u && m.op->kind == LinOp::Kind::cas && m.operand == after) return true;
    } else if (!apply(m, state_) && apply(m, after)) {
      return true;
    }
  }
  return false;
}

Verdict KeySearch::run(std::size_t max_steps) {
  // Unknown operations never have to take effect: once every known one has,
  // the unknown ones left can follow in any order (writes and compare-and-sets
  // whose result nobody saw are legal in every state).
  known_left_ = static_cast<std::size_t>(
      std::count_if(ops_.begin(), ops_.end(), [](const ModelOp& m) { return !m.op->unknown; }));
  has_unknown_ = known_left_ < n_;
  std::size_t e = next_[0];
  bool entered = true;  // a configuration not scanned yet
  // Each configuration is scanned for known operations to take first, then
  // for unknown ones: so the configurations without an unknown operation
  // fail first, and failed_ spares the search those with it.
  bool unknown_pass = false;
  auto resume_after = [&](std::optional<std::size_t> op) {
    if (!op) return false;
    e = next_[call_of(*op)];
    unknown_pass = ops_[*op].op->unknown;
    return true;
  };
  while (known_left_ > 0) {
    if (++steps_ > max_steps || seen_.bytes() + failed_.bytes() > kMaxCacheBytes)
      return Verdict::gave_up;
    if (std::exchange(entered, false)) {
      unknown_pass = false;
      // An operation that changes nothing and can take effect now may as well
      // go first: everything that had to precede it already has, and every
      // order that works without it first still works with it. So it is the
      // only choice tried here, which spares the search most of its branching.
      if (std::size_t o = find_legal_observer(); o != kEnd) {
        if (take(op_of(o), state_, true)) {
          e = next_[0];
          entered = true;
        } else if (!resume_after(backtrack())) {
          return Verdict::not_linearizable;
        }
        continue;
      }
    }
    assert(e != kEnd);  // a known operation's return is still ahead
    if (is_call(e)) {
      std::size_t i = op_of(e);
      if (ops_[i].op->unknown == unknown_pass) {
        std::optional<Value> after = apply(ops_[i], state_);
        if (after && (!unknown_pass || worth_taking(i, *after)) && take(i, *after, false)) {
          e = next_[0];
          entered = true;
          continue;
        }
      }
      e = next_[e];
      continue;
    }
    if (has_unknown_ && !unknown_pass) {
      unknown_pass = true;
      e = next_[0];
      continue;
    }
    note_stuck(e);
    if (!resume_after(backtrack())) return Verdict::not_linearizable;
  }
  return Verdict::linearizable;
}

}  // namespace synod::sim::wgl
