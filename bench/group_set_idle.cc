// synod-groupset-idle-bench: what N idle groups cost a node in GroupSet and
// the core, with no I/O. Three GroupSets in one process, each holding a
// replica of every group (leaders spread: group g led by node g % 3 + 1),
// messages handed over in memory. It elects every group, waits until every
// group sleeps, then measures idle ticks: wall-clock time per node per tick,
// groups given to the Ready loop, messages and beats per tick. Prints one
// line of figures (docs/groups.md). Quiescence (docs/protocol.md) is what
// makes the idle figures small: without it every group ticks and
// heartbeats.
#include <fmt/format.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "synod/group_set.h"
#include "synod/memory_storage.h"

using namespace synod;

namespace {

struct Node {
  NodeId id{};
  std::unique_ptr<GroupSet> set;
  std::vector<MemoryStorage> storage;  // index group - 1
};

struct Cluster {
  std::vector<Node> nodes;
  std::deque<std::pair<NodeId, Message>> queue;  // (from, message)
  std::uint64_t pumped = 0, messages = 0, beats = 0;

  void pump(Node& n) {
    std::vector<GroupId> dirty;
    n.set->take_dirty(dirty);
    std::vector<Message> out;
    for (GroupId g : dirty) {
      ++pumped;
      Replica* r = n.set->find(g);
      MemoryStorage& s = n.storage[g.value - 1];
      while (r->has_ready()) {
        Ready rd = r->ready();
        s.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
        if (rd.must_sync) s.sync();
        for (Message& m : rd.messages) n.set->send(std::move(m), out);
        r->advance(rd);
      }
    }
    n.set->flush(out);
    for (Message& m : out) {
      ++messages;
      beats += m.beats.size();
      queue.emplace_back(n.id, std::move(m));
    }
  }
  void settle() {
    for (Node& n : nodes) pump(n);
    while (!queue.empty()) {
      auto [from, m] = std::move(queue.front());
      queue.pop_front();
      Node& n = nodes[m.to.value - 1];
      n.set->step(from, m);
      pump(n);
    }
  }
  void tick() {
    for (Node& n : nodes) {
      n.set->tick();
      pump(n);
    }
    settle();
  }
  std::size_t sleeping() const {
    std::size_t s = 0;
    for (const Node& n : nodes) s += n.set->stats().sleeping;
    return s;
  }
};

std::uint64_t number(const char* s) { return std::stoull(s); }

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t groups = 10'000, ticks = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--groups") {
      groups = number(argv[i + 1]);
    } else if (k == "--ticks") {
      ticks = number(argv[i + 1]);
    } else {
      fmt::print(stderr, "usage: synod-groupset-idle-bench [--groups N] [--ticks T]\n");
      return 2;
    }
  }
  Cluster c;
  c.nodes.resize(3);
  std::vector<NodeId> all{NodeId{1}, NodeId{2}, NodeId{3}};
  for (std::uint64_t i = 0; i < 3; ++i) {
    Node& n = c.nodes[i];
    n.id = NodeId{i + 1};
    GroupSetOptions o;
    o.self = n.id;
    o.heartbeat_ticks = 1;
    o.election_ticks = 10;
    o.incarnation = i + 1;
    n.set = std::make_unique<GroupSet>(o);
    n.storage.resize(groups);
    for (std::uint64_t g = 1; g <= groups; ++g) {
      Config cfg;
      cfg.id = n.id;
      cfg.group = GroupId{g};
      cfg.voters = all;
      cfg.seed = g * 4 + i;
      std::string why;
      if (n.set->add(cfg, n.storage[g - 1], &why) != Status::ok) {
        fmt::print(stderr, "add: {}\n", why);
        return 1;
      }
    }
    n.set->set_peers(all);
  }
  for (std::uint64_t g = 1; g <= groups; ++g) {
    Node& l = c.nodes[g % 3];
    l.set->find(GroupId{g})->campaign();
    l.set->touch(GroupId{g});
  }
  c.settle();
  std::uint64_t warm = 0;
  for (; warm < 200 && c.sleeping() < 3 * groups; ++warm) c.tick();
  std::size_t asleep = c.sleeping();
  c.pumped = c.messages = c.beats = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t t = 0; t < ticks; ++t) c.tick();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double per_node_tick_us = secs * 1e6 / static_cast<double>(ticks * 3);
  fmt::print(
      "groupset idle: {} groups x 3 nodes, {} of {} replicas asleep after {} ticks; {} idle "
      "ticks: {:.2f} us (wall clock) per node per tick, {:.2f} groups to the Ready loop per node "
      "per tick, "
      "{:.2f} messages ({:.2f} beats) per node per tick\n",
      groups, asleep, 3 * groups, warm, ticks, per_node_tick_us,
      static_cast<double>(c.pumped) / static_cast<double>(ticks * 3),
      static_cast<double>(c.messages) / static_cast<double>(ticks * 3),
      static_cast<double>(c.beats) / static_cast<double>(ticks * 3));
  return asleep == 3 * groups ? 0 : 1;
}
