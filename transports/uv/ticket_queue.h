// Callbacks waiting for their proposal's outcome, keyed by ticket. Tickets
// come from one increasing counter (Replica::propose), and outcomes mostly in
// the same order, so the callbacks sit in a deque in ticket order: adding is
// a push at the back, taking the front one is a pop, and a ticket answered
// out of order is found by binary search and left as a hole. A hash map did
// the same with a node allocated and freed and a hash per proposal
// (docs/benchmarks.md, "synod-kv").
//
// Memory stays proportional to the callbacks waiting: holes at the front are
// popped as they come, and once holes outnumber the waiting callbacks (an
// old proposal unanswered while later ones are) they are swept out.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

namespace synod::detail {

template <class Callback>
class TicketQueue {
 public:
  // Tickets come in increasing order; one that does not (never from one
  // Replica) is put in its place, at a linear cost, so the order holds.
  void add(std::uint64_t ticket, Callback callback) {
    ++waiting_;
    if (entries_.empty() || entries_.back().ticket < ticket) {
      entries_.push_back({ticket, std::move(callback)});
      return;
    }
    auto it = std::lower_bound(entries_.begin(), entries_.end(), ticket,
                               [](const Entry& e, std::uint64_t t) { return e.ticket < t; });
    if (it != entries_.end() && it->ticket == ticket) {
      if (it->callback) --waiting_;  // the same ticket again: the new callback replaces it
      it->callback = std::move(callback);
      return;
    }
    entries_.insert(it, Entry{ticket, std::move(callback)});
  }

  // The callback of `ticket`, taken out; nullopt when none waits (never
  // added, or already taken).
  std::optional<Callback> take(std::uint64_t ticket) {
    auto it = entries_.begin();
    if (entries_.empty() || it->ticket != ticket) {
      it = std::lower_bound(entries_.begin(), entries_.end(), ticket,
                            [](const Entry& e, std::uint64_t t) { return e.ticket < t; });
      if (it == entries_.end() || it->ticket != ticket || !it->callback) return std::nullopt;
    } else if (!it->callback) {
      return std::nullopt;
    }
    std::optional<Callback> out(std::move(it->callback));
    it->callback.reset();
    --waiting_;
    while (!entries_.empty() && !entries_.front().callback) entries_.pop_front();
    if (entries_.size() > 2 * waiting_ + 64)
      std::erase_if(entries_, [](const Entry& e) { return !e.callback; });
    return out;
  }

  // Every waiting callback, in ticket order, taken out (the queue is empty
  // afterwards, ready for more).
  template <class F>
  void drain(F&& f) {
    std::deque<Entry> all;
    all.swap(entries_);
    waiting_ = 0;
    for (Entry& e : all)
      if (e.callback) f(e.ticket, std::move(*e.callback));
  }

  std::size_t size() const { return waiting_; }
  // Entries held, holes included (for tests of the memory bound).
  std::size_t held() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint64_t ticket = 0;
    std::optional<Callback> callback;  // empty: answered (a hole)
  };
  std::deque<Entry> entries_;
  std::size_t waiting_ = 0;
};

}  // namespace synod::detail
