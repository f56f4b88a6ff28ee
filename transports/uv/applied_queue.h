// Confirmed reads waiting for the applied index to reach theirs, served in
// index order (equal indexes in the order added). Indexes come mostly in
// order (each is the commit index when its read was asked), so a deque with
// a push at the back and pops at the front does what a std::multimap did
// without a node allocated and freed per read (docs/benchmarks.md,
// "synod-kv"); an index below the last is put in its place.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

namespace synod::detail {

template <class Callback>
class AppliedQueue {
 public:
  void add(std::uint64_t index, Callback callback) {
    if (entries_.empty() || entries_.back().first <= index) {
      entries_.emplace_back(index, std::move(callback));
      return;
    }
    auto it = std::upper_bound(entries_.begin(), entries_.end(), index,
                               [](std::uint64_t i, const auto& e) { return i < e.first; });
    entries_.emplace(it, index, std::move(callback));
  }

  // Takes out the first callback whose index is at most `applied`, if any.
  // One at a time: a callback may add more before the next is taken.
  bool take_ready(std::uint64_t applied, Callback* out) {
    if (entries_.empty() || entries_.front().first > applied) return false;
    *out = std::move(entries_.front().second);
    entries_.pop_front();
    return true;
  }

  // Every callback, in index order, taken out.
  template <class F>
  void drain(F&& f) {
    std::deque<std::pair<std::uint64_t, Callback>> all;
    all.swap(entries_);
    for (auto& [index, callback] : all) f(index, std::move(callback));
  }

  std::size_t size() const { return entries_.size(); }

 private:
  std::deque<std::pair<std::uint64_t, Callback>> entries_;
};

}  // namespace synod::detail
