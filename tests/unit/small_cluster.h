// Three voters (ids 1..3) on MemoryStorage that deliver to each other at
// once, with a hook to drop or inspect messages, for the refusal and
// member-capacity tests.
#pragma once

#include <doctest/doctest.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "synod/memory_storage.h"
#include "synod/replica.h"

namespace synod::test {

struct SmallCluster {
  static constexpr std::size_t kNodes = 3;
  std::vector<MemoryStorage> storage = std::vector<MemoryStorage>(kNodes);
  std::vector<std::unique_ptr<Replica>> r = std::vector<std::unique_ptr<Replica>>(kNodes);
  std::vector<std::vector<Entry>> applied = std::vector<std::vector<Entry>>(kNodes);
  std::deque<Message> wire;
  // false: the message is lost.
  std::function<bool(const Message&)> deliver = [](const Message&) { return true; };

  SmallCluster() {
    for (std::uint64_t id = 1; id <= kNodes; ++id) start(id);
  }
  void start(std::uint64_t id) {
    Config c;
    c.id = NodeId{id};
    c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
    c.seed = id;
    c.max_inflight = 8;
    c.alpha = 4;
    r[id - 1] = std::make_unique<Replica>(c, storage[id - 1]);
  }
  Replica& node(std::uint64_t id) { return *r[id - 1]; }
  void drain(std::size_t i) {
    while (r[i]->has_ready()) {
      Ready rd = r[i]->ready();
      storage[i].save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
      storage[i].sync();
      wire.insert(wire.end(), rd.messages.begin(), rd.messages.end());
      applied[i].insert(applied[i].end(), rd.committed.begin(), rd.committed.end());
      r[i]->advance(rd);
    }
  }
  void settle() {
    for (int n = 0; n < 200000; ++n) {
      for (std::size_t i = 0; i < kNodes; ++i) drain(i);
      if (wire.empty()) return;
      Message m = wire.front();
      wire.pop_front();
      // Nodes past kNodes (learners added by id only) never answer.
      if (m.to.value <= kNodes && deliver(m)) r[m.to.value - 1]->step(m);
    }
    FAIL("the cluster never went quiet");
  }
  void tick_all(int ticks) {
    for (int t = 0; t < ticks; ++t) {
      for (auto& x : r) x->tick();
      settle();
    }
  }
  std::uint64_t leader() const {
    for (std::size_t i = 0; i < kNodes; ++i)
      if (r[i]->info().role == Role::leader) return i + 1;
    return 0;
  }
  // Proposes `command` on the leader and runs until every replica applied it.
  bool commit_everywhere(const std::string& command) {
    std::uint64_t l = leader();
    if (l == 0 || !node(l).propose(command).ok()) return false;
    settle();
    tick_all(3);
    for (const auto& log : applied) {
      bool found = false;
      for (const Entry& e : log)
        for (const auto& c : e.value.commands())
          if (!e.value.is_config() && c == command) found = true;
      if (!found) return false;
    }
    return true;
  }
  // Hands `m` to its addressee as if it came off the network.
  void inject(Message m) {
    r[m.to.value - 1]->step(m);
    settle();
  }
};

}  // namespace synod::test
