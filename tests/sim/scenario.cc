#include "scenario.h"

#include <fmt/format.h>

#include <algorithm>

#include "draw.h"
#include "scenario_membership.h"

namespace synod::sim {

namespace {

void add_crashes(Draw& d, Scenario& sc) {
  // At least 3 crash-restarts per run; a node's down times never overlap.
  // Spares crash too, once they joined (a crash of a node not running is
  // nothing).
  std::vector<std::vector<std::pair<std::uint64_t, std::uint64_t>>> down(sc.nodes() + 1);
  std::size_t crashes = d.between(3, 7);
  // A wiped replica counts as failed until it rejoins: at most f wipes, or no
  // quorum may remember a chosen value. Configurations never have fewer
  // voters than the initial one, so its f bounds them all (the world also
  // refuses a wipe while f others are still rejoining).
  std::size_t wipes_left = (sc.replicas - 1) / 2;
  for (std::size_t tries = 0; crashes > 0 && tries < 100; ++tries) {
    std::uint64_t at = d.between(30, sc.fault_ticks - 200);
    std::uint64_t back = at + d.between(5, 150);
    NodeId n{d.between(1, sc.nodes())};
    bool overlaps = false;
    for (auto [lo, hi] : down[n.value]) overlaps |= at <= hi + 5 && lo <= back + 5;
    if (overlaps) continue;
    down[n.value].push_back({at, back});
    sc.events.push_back(Event{at, EventKind::crash, n, {}, d.chance(0.5), d.below(4), false});
    bool wipe = wipes_left > 0 && d.chance(0.15);
    wipes_left -= wipe;
    sc.events.push_back(Event{back, EventKind::restart, n, {}, false, 0, wipe});
    --crashes;
  }
}

void add_partitions(Draw& d, Scenario& sc) {
  std::size_t parts = d.below(7);
  for (std::size_t i = 0; i < parts; ++i) {
    std::uint64_t at = d.between(10, sc.fault_ticks - 100);
    std::uint64_t until = std::min(at + d.between(20, 300), sc.fault_ticks - 1);
    NodeId a{d.between(1, sc.nodes())};
    bool isolate = d.chance(0.5);
    bool one_way = d.chance(0.3);
    for (std::uint64_t p = 1; p <= sc.nodes(); ++p) {
      NodeId b{p};
      if (b == a) continue;
      if (!isolate && !d.chance(0.5)) continue;
      sc.events.push_back(Event{at, EventKind::block, a, b});
      sc.events.push_back(Event{until, EventKind::unblock, a, b});
      if (one_way) continue;
      sc.events.push_back(Event{at, EventKind::block, b, a});
      sc.events.push_back(Event{until, EventKind::unblock, b, a});
    }
  }
}

// The leader of the moment is cut off from everyone (found at run time): the
// fault that tests stickiness, check-quorum and stale reads hardest.
void add_leader_isolations(Draw& d, Scenario& sc) {
  std::size_t n = d.between(1, 3);
  for (std::size_t i = 0; i < n; ++i) {
    Event e{d.between(50, sc.fault_ticks - 200), EventKind::isolate_leader};
    e.until = e.tick + d.between(20, 200);
    sc.events.push_back(e);
  }
}

}  // namespace

Scenario draw_scenario(std::uint64_t seed, std::size_t replicas, std::uint64_t fault_ticks) {
  Draw d{seed * 0x2545f4914f6cdd1dULL + 7};
  Scenario sc;
  sc.replicas = replicas ? replicas : (d.chance(0.5) ? 3 : 5);
  sc.fault_ticks = fault_ticks;
  sc.faults.drop_rate = d.unit() * 0.30;
  sc.faults.duplicate_rate = d.unit() * 0.50;
  sc.faults.delay_min = 1;
  sc.faults.delay_max = d.between(1, 40);  // steps; a tick is 10 steps
  sc.log_storage = d.chance(0.3);
  sc.pipelined = d.chance(0.5);
  sc.early_accepts = d.chance(0.5);
  // Before the faults, which pick spares too.
  draw_membership_settings(d, sc);
  sc.lease_reads = d.chance(0.25);
  bool drift = d.chance(0.5);
  // A lease assumes clocks drift apart by less than it spares: leases last
  // election - max_drift = 8 of the leader's ticks from the round's send;
  // a new leader waits an election timeout (10 ticks, the first maybe
  // partial: at least 9 periods) before its first accept. With periods of 10
  // and 11 steps, 8 * 11 <= 9 * 10: safe (up to 9/8 would be).
  for (std::size_t i = 0; i < sc.nodes(); ++i)
    sc.tick_steps.push_back(!drift ? 10 : sc.lease_reads ? d.between(10, 11) : d.between(6, 25));
  add_crashes(d, sc);
  add_partitions(d, sc);
  add_leader_isolations(d, sc);
  // Leadership transfers to a voter picked at run time, during faults too.
  for (std::size_t i = d.between(0, 4); i > 0; --i) {
    Event e{d.between(20, sc.fault_ticks + 200), EventKind::transfer};
    e.pick = d.next();
    sc.events.push_back(e);
  }
  add_membership_changes(d, sc);
  // Drawn last so the draws above keep their values for a given seed.
  sc.snapshots = d.chance(0.6);
  sc.snapshot_percent = static_cast<std::uint32_t>(d.between(2, 30));
  sc.compaction_tail = d.between(0, 12);
  sc.snapshot_chunk_bytes = static_cast<std::uint32_t>(d.between(8, 96));
  sc.background_snapshots = d.chance(0.5);
  sc.keys = d.between(3, 5);
  // Most cut-off leaders also stall, to the slowest drift: a deposed leader
  // that learns late is what a read without a confirmed ballot gets wrong.
  // Not under leases: a stall beyond the drift bound breaks their assumption.
  for (Event& e : sc.events)
    if (e.kind == EventKind::isolate_leader && d.chance(0.7) && !sc.lease_reads)
      e.slow_tick_steps = 25;
  sc.early_apply = d.chance(0.5);
  std::stable_sort(sc.events.begin(), sc.events.end(),
                   [](const Event& a, const Event& b) { return a.tick < b.tick; });
  sc.forgeries = seed % 3 == 0;
  // A tail cut by bytes as well as slots (Config::compaction_tail_bytes)
  // on half the seeds: a few of the simulator's small commands.
  sc.compaction_tail_bytes = d.chance(0.5) ? d.between(16, 256) : 0;
  return sc;
}

std::string Scenario::describe() const {
  std::size_t crashes = 0, wipes = 0, blocks = 0, changes = 0;
  for (const Event& e : events) {
    crashes += e.kind == EventKind::crash;
    wipes += e.kind == EventKind::restart && e.wipe;
    blocks += e.kind == EventKind::block;
    changes += e.kind == EventKind::change;
  }
  return fmt::format(
      "replicas={} keys={} drop={:.2f} dup={:.2f} delay<={} crashes={} wipes={} blocked_links={} "
      "storage={}{}{}{}{} alpha={} inflight={}{}{}{}{}",
      replicas, keys, faults.drop_rate, faults.duplicate_rate, faults.delay_max, crashes, wipes,
      blocks, log_storage ? "log" : "memory", pipelined ? " pipelined" : "",
      early_accepts ? " early-accepts" : "", early_apply ? " early-apply" : "",
      std::any_of(tick_steps.begin(), tick_steps.end(), [](auto t) { return t != 10; }) ? " drift"
                                                                                        : "",
      alpha, max_inflight,
      spares ? fmt::format(" spares={} changes={} promote_lag={}", spares, changes, promote_lag)
             : "",
      lease_reads ? " lease-reads" : "",
      snapshots
          ? fmt::format(" snapshots={}%/tail={}{}/chunk={}{}", snapshot_percent, compaction_tail,
                        compaction_tail_bytes ? fmt::format("/{}B", compaction_tail_bytes) : "",
                        snapshot_chunk_bytes, background_snapshots ? "/background" : "")
          : "",
      forgeries ? " forgeries" : "");
}

}  // namespace synod::sim
