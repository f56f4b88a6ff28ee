// What one many-groups seed does (synod-sim --groups): the nodes, how many
// Paxos groups each runs (every node holds a replica of every group), which
// groups the clients write to (the others stay idle and quiesce), the
// network's fault rates and a timeline of node crashes, restarts and
// partitions, all drawn from the seed; and whether one node stays dead once
// the faults stop (the one leading the most sleeping groups then), so a
// follower that sleeps through its leader's death shows as a group that
// never elects.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenario.h"

namespace synod::sim {

struct GroupScenario {
  std::size_t nodes = 3;
  std::size_t groups = 3;
  std::vector<std::uint64_t> busy;  // the groups clients write to during faults
  std::size_t clients = 3;
  NetworkFaults faults;
  std::uint64_t fault_ticks = 600;
  // Clients start nothing in the last cool_ticks of the faults, so groups
  // fall asleep before the end (and maybe a leader's death).
  std::uint64_t cool_ticks = 80;
  bool dead_node = false;
  bool log_storage = false;               // one GroupLog per node over a fault file system
  std::vector<std::uint64_t> tick_steps;  // per node: steps between ticks
  std::vector<Event> events;              // crash, restart, block, unblock, ascending by tick
  std::string describe() const;
};

GroupScenario draw_group_scenario(std::uint64_t seed, std::uint64_t fault_ticks);

}  // namespace synod::sim
