// An in-process network with seeded faults: drop, duplicate, delay (which
// reorders), symmetric and one-way partitions, and node crashes. Generic over
// the payload: the simulator moves core Messages through it; a host could as
// well move encoded frames. Time is whatever unit the driver advances.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "synod/types.h"

namespace synod {

struct NetworkFaults {
  double drop_rate = 0.0;       // [0, 1]
  double duplicate_rate = 0.0;  // [0, 1]
  std::uint64_t delay_min = 1;  // time units, inclusive
  std::uint64_t delay_max = 1;  // inclusive; > delay_min reorders
};

template <typename Payload>
class MemoryNetwork {
 public:
  struct Delivery {
    std::uint64_t at = 0;
    std::uint64_t seq = 0;
    NodeId from{};
    NodeId to{};
    Payload payload{};
  };

  explicit MemoryNetwork(std::uint64_t seed) : rng_(seed ? seed : 1) {}

  void set_faults(const NetworkFaults& f) { faults_ = f; }
  const NetworkFaults& faults() const { return faults_; }

  // Messages from `from` to `to` are lost until heal() (one way only).
  void block(NodeId from, NodeId to) { blocked_.insert({from.value, to.value}); }
  void unblock(NodeId from, NodeId to) { blocked_.erase({from.value, to.value}); }
  void partition(NodeId a, NodeId b) { block(a, b), block(b, a); }
  void heal() { blocked_.clear(); }
  bool blocked(NodeId from, NodeId to) const { return blocked_.count({from.value, to.value}) > 0; }

  // A crashed node receives nothing; what is in flight to it is lost.
  void set_down(NodeId n, bool down) {
    if (down)
      down_.insert(n.value);
    else
      down_.erase(n.value);
  }
  bool down(NodeId n) const { return down_.count(n.value) > 0; }

  // Queue payload for delivery at now + a seeded delay, subject to faults.
  void send(std::uint64_t now, NodeId from, NodeId to, Payload payload) {
    ++sent_;
    if (blocked(from, to) || chance(faults_.drop_rate)) {
      ++dropped_;
      return;
    }
    if (chance(faults_.duplicate_rate)) {
      ++duplicated_;
      push(Delivery{now + delay(), next_seq_++, from, to, payload});
    }
    push(Delivery{now + delay(), next_seq_++, from, to, std::move(payload)});
  }

  // Deliver every message due at or before now, in (time, send order), to
  // the handler. Messages to down nodes, or across a partition formed since
  // they were sent, are lost.
  template <typename Handler>
  std::size_t deliver_due(std::uint64_t now, Handler&& handler) {
    std::size_t n = 0;
    while (!queue_.empty() && queue_.front().at <= now) {
      std::pop_heap(queue_.begin(), queue_.end(), Later{});
      Delivery d = std::move(queue_.back());
      queue_.pop_back();
      if (down(d.to) || blocked(d.from, d.to)) {
        ++dropped_;
        continue;
      }
      ++n;
      handler(d);
    }
    return n;
  }

  std::size_t in_flight() const { return queue_.size(); }
  // Every message queued and neither delivered nor lost yet, in no
  // particular order (the simulator asks what could still wake a sleeper).
  template <typename Visitor>
  void for_each_in_flight(Visitor&& visit) const {
    for (const Delivery& d : queue_) visit(d);
  }
  std::uint64_t sent() const { return sent_; }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t duplicated() const { return duplicated_; }

 private:
  struct Later {
    bool operator()(const Delivery& a, const Delivery& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };

  std::uint64_t next() {
    std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  void push(Delivery d) {
    queue_.push_back(std::move(d));
    std::push_heap(queue_.begin(), queue_.end(), Later{});
  }
  bool chance(double p) { return p > 0 && (next() >> 11) * 0x1.0p-53 < p; }
  std::uint64_t delay() {
    return faults_.delay_min + next() % (faults_.delay_max - faults_.delay_min + 1);
  }

  std::uint64_t rng_;
  NetworkFaults faults_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> blocked_;
  std::set<std::uint64_t> down_;
  // A heap in (time, send order), as a priority_queue would keep it, but
  // open to for_each_in_flight.
  std::vector<Delivery> queue_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t sent_ = 0, dropped_ = 0, duplicated_ = 0;
};

}  // namespace synod
