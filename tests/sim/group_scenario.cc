#include "group_scenario.h"

#include <fmt/format.h>

#include <algorithm>

#include "draw.h"

namespace synod::sim {

GroupScenario draw_group_scenario(std::uint64_t seed, std::uint64_t fault_ticks) {
  Draw d{seed * 0x9fb21c651e98df25ULL + 11};
  GroupScenario sc;
  sc.nodes = d.chance(0.6) ? 3 : 5;
  sc.groups = d.between(3, 8);
  sc.fault_ticks = fault_ticks;
  for (std::uint64_t g = 1; g <= sc.groups; ++g)
    if (d.chance(0.5)) sc.busy.push_back(g);
  if (sc.busy.empty()) sc.busy.push_back(d.between(1, sc.groups));
  sc.clients = d.between(2, 4);
  sc.faults.drop_rate = d.unit() * 0.20;
  sc.faults.duplicate_rate = d.unit() * 0.30;
  sc.faults.delay_min = 1;
  sc.faults.delay_max = d.between(1, 30);  // steps; a tick is 10
  sc.dead_node = d.chance(0.5);
  sc.log_storage = d.chance(0.5);
  bool drift = d.chance(0.3);
  for (std::size_t i = 0; i < sc.nodes; ++i) sc.tick_steps.push_back(drift ? d.between(8, 13) : 10);
  // Node crashes, each back within 150 ticks; one node's down times never
  // overlap, and at most f nodes are down at once, so the groups that have a
  // majority may stay live.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> down;
  std::vector<std::uint64_t> node_of;
  for (std::size_t want = d.between(2, 6), tries = 0; want > 0 && tries < 100; ++tries) {
    std::uint64_t at = d.between(30, sc.fault_ticks - sc.cool_ticks - 20);
    std::uint64_t back = at + d.between(5, 150);
    std::uint64_t n = d.between(1, sc.nodes);
    std::size_t overlapping = 0;
    bool same_node = false;
    for (std::size_t i = 0; i < down.size(); ++i) {
      bool overlaps = at <= down[i].second + 5 && down[i].first <= back + 5;
      overlapping += overlaps;
      same_node |= overlaps && node_of[i] == n;
    }
    if (same_node || overlapping >= (sc.nodes - 1) / 2) continue;
    down.emplace_back(at, back);
    node_of.push_back(n);
    Event crash{at, EventKind::crash, NodeId{n}};
    crash.mid_ready = d.chance(0.5);
    crash.keep_unsynced = d.below(3);
    sc.events.push_back(crash);
    sc.events.push_back(Event{back, EventKind::restart, NodeId{n}});
    --want;
  }
  // Partitions: a node cut from some or all others, both ways or one way.
  for (std::size_t parts = d.below(5); parts > 0; --parts) {
    std::uint64_t at = d.between(10, sc.fault_ticks - 60);
    std::uint64_t until = std::min(at + d.between(20, 200), sc.fault_ticks - 1);
    NodeId a{d.between(1, sc.nodes)};
    bool isolate = d.chance(0.5), one_way = d.chance(0.3);
    for (std::uint64_t p = 1; p <= sc.nodes; ++p) {
      NodeId b{p};
      if (b == a || (!isolate && !d.chance(0.5))) continue;
      sc.events.push_back(Event{at, EventKind::block, a, b});
      sc.events.push_back(Event{until, EventKind::unblock, a, b});
      if (one_way) continue;
      sc.events.push_back(Event{at, EventKind::block, b, a});
      sc.events.push_back(Event{until, EventKind::unblock, b, a});
    }
  }
  std::stable_sort(sc.events.begin(), sc.events.end(),
                   [](const Event& a, const Event& b) { return a.tick < b.tick; });
  return sc;
}

std::string GroupScenario::describe() const {
  std::size_t crashes = 0, blocks = 0;
  std::string busy_list;
  for (std::uint64_t g : busy) {
    if (!busy_list.empty()) busy_list.push_back(',');
    busy_list.append(std::to_string(g));
  }
  for (const Event& e : events) {
    crashes += e.kind == EventKind::crash;
    blocks += e.kind == EventKind::block;
  }
  return fmt::format(
      "nodes={} groups={} busy={} clients={} drop={:.2f} dup={:.2f} delay<={} crashes={} "
      "blocked_links={} storage={}{}{}",
      nodes, groups, busy_list, clients, faults.drop_rate, faults.duplicate_rate, faults.delay_max,
      crashes, blocks, log_storage ? "group-log" : "memory", dead_node ? " dead-node" : "",
      std::any_of(tick_steps.begin(), tick_steps.end(), [](auto t) { return t != 10; }) ? " drift"
                                                                                        : "");
}

}  // namespace synod::sim
