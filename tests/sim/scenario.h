// What one seed does: its fault rates and a timeline of crashes, restarts,
// wipes, partitions, leadership transfers and membership changes, all drawn
// from the seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "synod/membership.h"
#include "synod/memory_network.h"

namespace synod::sim {

enum class EventKind {
  crash,
  restart,
  block,
  unblock,
  isolate_leader,
  heal_leader,
  transfer,  // to a voter picked at run time
  change,    // a membership change on whichever node leads; its node picked at run time
};

struct Event {
  std::uint64_t tick = 0;
  EventKind kind = EventKind::crash;
  NodeId node{};
  NodeId peer{};                  // block/unblock: the other end (from node to peer)
  bool mid_ready = false;         // crash: between save and sync of a Ready
  std::size_t keep_unsynced = 0;  // crash: how much of the unsynced tail survives
  bool wipe = false;              // restart: with its storage lost (amnesia)
  std::uint64_t until = 0;        // isolate_leader: the tick it ends
  // isolate_leader: the cut-off leader's clock slows to a tick every this
  // many steps until it heals (0: unchanged). Within the range drift draws.
  std::uint64_t slow_tick_steps = 0;
  MembershipOp op = MembershipOp::add_voter;  // change
  std::uint64_t pick = 0;                     // change, transfer: chooses the node at run time
  bool voters_only = false;                   // change (remove): a voter, not a learner
};

struct Scenario {
  std::size_t replicas = 3;  // the initial voters, ids 1..replicas
  // Nodes replicas+1..replicas+spares start later, as learners joining a
  // running cluster (membership changes add them).
  std::size_t spares = 0;
  NetworkFaults faults;
  std::uint64_t fault_ticks = 1500;  // faults stop here; then liveness is due
  bool log_storage = false;          // the durable log over a fault file system
  bool pipelined = false;            // the host stages several Readys per sync
  bool early_accepts = false;        // accepts leave before their Ready is saved
  // Committed commands apply, and their proposers are answered, before their
  // Ready is saved (UvHostOptions::apply_before_durable), in order.
  bool early_apply = false;
  // Log compaction: hosts snapshot their state machine at random points
  // (some in the background, handed over later), keep a short tail, and send
  // snapshots in small chunks, so lagging and wiped replicas install them.
  bool snapshots = false;
  std::uint32_t snapshot_percent = 0;  // chance per applied Ready
  std::uint64_t compaction_tail = 0;
  std::uint64_t compaction_tail_bytes = 0;  // 0: by slots only
  std::uint32_t snapshot_chunk_bytes = 0;
  bool background_snapshots = false;
  // Steps between a node's ticks (10 nominal): timers drift, and a slow one
  // keeps a deposed leader unaware for longer (reads must stay safe anyway).
  std::vector<std::uint64_t> tick_steps;
  // Slots in flight past the commit index, and how far after its slot a
  // configuration governs: small, so changes land among slots in flight.
  std::uint32_t max_inflight = 16;
  std::uint32_t alpha = 16;
  std::uint64_t promote_lag = 64;
  // Config::lease_reads, with every tick period within the drift the lease
  // assumes (and no stalled leaders).
  bool lease_reads = false;
  // How many registers the clients share: few, so operations on one overlap.
  std::size_t keys = 3;
  // Hostile input (docs/testing.md): a forger sends replicas catch-up replies
  // nobody asked for, carrying a no-op for their next slot, and messages of
  // round 2^64-1, as if from members. Decided by the seed alone (no draw), so
  // the other seeds run as before.
  bool forgeries = false;
  std::vector<Event> events;  // ascending by tick
  std::string describe() const;
  std::size_t nodes() const { return replicas + spares; }
};

// replicas: 3 or 5, or 0 to draw it from the seed.
Scenario draw_scenario(std::uint64_t seed, std::size_t replicas, std::uint64_t fault_ticks);

}  // namespace synod::sim
