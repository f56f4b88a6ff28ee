// Test-only: deliberately broken behaviours the simulator must catch (the
// planted-bug gate, docs/testing.md). Not part of the installed API: the
// simulator and the tests include it as "core/planted_bugs.h"; no host can
// plant a bug through Config.
#pragma once

#include <cstdint>

namespace synod {

enum class PlantedBug : std::uint8_t {
  none = 0,
  skip_persist_before_send,  // promises/accepts leave without being persisted
  accept_below_promise,      // an acceptor accepts a ballot below its promise
  choose_not_highest,        // a new leader re-proposes the lowest-ballot value
  quorum_too_small,          // a quorum one smaller than a majority
  read_without_confirm,      // a leader serves reads without a heartbeat round
  config_before_alpha,       // a configuration governs from the slot after it, not + alpha
  accept_catchup_unasked,    // a learner takes catch-up replies it did not ask for
  // A sleeping follower keeps its election clock running and, when it runs
  // out, wakes and campaigns (forced, past stickiness) although its leader's
  // node is alive: every idle group is deposed every election timeout.
  quiesced_follower_campaigns,
  // GroupSet (lib/groups): some accepts are routed to another group here.
  deliver_to_wrong_group,
  // GroupSet: sleeping followers never wake when their leader's node falls
  // silent or restarts (quiescence hiding a dead leader for ever).
  sleep_through_dead_leader,
  // The compaction tail cut by bytes starts past the slot after the
  // snapshot: a chosen slot in neither (Learner::compact asserts it).
  tail_cut_past_snapshot,
  // A voter grants pre-votes past stickiness (while it hears a live leader);
  // a sleeper answers a probe asleep with that yes, which
  // Replica::Core::step's assertion on what a sleeper sends catches.
  probe_past_stickiness,
  // A rejoining replica campaigns while it receives a snapshot: it wins
  // promises it cannot take office with and deposes the live leader at
  // each retry (synod-sim --quiesce --replicas 5 seed 963856: not settled).
  rejoin_campaign_while_receiving,
};

namespace testing {
// Plants bug in every Replica this process constructs from now on (none: no
// bug). A replica keeps the bug it was constructed with for its whole life,
// so planting again affects only replicas constructed later.
void plant_bug(PlantedBug bug);
PlantedBug planted_bug();
}  // namespace testing

}  // namespace synod
