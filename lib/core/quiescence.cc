// Quiescence (docs/protocol.md, "Quiescence"): when an idle group falls
// asleep, and what wakes it. Sleeping changes timing only: a sleeping
// replica sends nothing and times nothing out, and every message that could
// change its state wakes it before it is handled.
#include "replica_core.h"

namespace synod {

using namespace detail;

// The leader's side: nothing queued, in flight or waiting (idle_leader), no
// catch-up or rejoin in progress, and every member
// (voters and learners) acknowledged, in this ballot and since the leader
// last woke, a commit index equal to the leader's, which is its last slot.
// Every member then holds the whole chosen log: none needs the leader.
bool Replica::Core::leader_may_sleep() const {
  if (!ctx.config.quiesce || !proposer.idle_leader()) return false;
  if (rejoin.in_progress() || learner.busy() || !follower_reads.idle()) return false;
  if (ctx.log.last() > ctx.log.commit()) return false;
  for (NodeId m : ctx.quorum.members()) {
    if (m == ctx.self()) continue;
    if (sleep_.acked_in != proposer.ballot()) return false;
    auto it = sleep_.acked.find(m);
    if (it == sleep_.acked.end() || it->second != ctx.log.commit()) return false;
  }
  return true;
}

// Proposer::tick sent the heartbeat marked quiesce and still leads.
void Replica::Core::fall_asleep_leading() {
  // Invariant 12 (docs/invariants.md): a leader sleeps only with its whole
  // log chosen and nothing left to do.
  SYNOD_ASSERT(ctx.config.quiesce && proposer.idle_leader() && ctx.log.last() <= ctx.log.commit(),
               "a leader falls asleep with work left (commit {}, last {})", ctx.log.commit().value,
               ctx.log.last().value);
  sleep_.asleep = true;
  sleep_.leader = ctx.self();
  sleep_.ballot = proposer.ballot();
}

// The follower's side, after the heartbeat was handled (acknowledged, its
// commit index learnt): it sleeps when it follows that very ballot's leader
// and its chosen prefix is exactly the leader's. Entries it holds above it
// were accepted in lower ballots and are not chosen (the leader's phase 1
// would have re-proposed any chosen one, and its log ends at its commit
// index); they wait for the next leader's accepts awake or asleep alike, so
// they do not keep it awake (docs/protocol.md, "Quiescence"). A follower
// that stays awake acknowledges a commit index below the leader's, or keeps
// its election clock running: either wakes the leader.
void Replica::Core::maybe_sleep_on(const Message& msg) {
  if (!ctx.config.quiesce || sleep_.asleep) return;
  bool quiesce_heartbeat = msg.type == MessageType::heartbeat && msg.quiesce;
  // The leader spoke again after the quiesce heartbeat this follower could
  // not sleep on: it is awake.
  if (sleep_.deferred && msg.from == sleep_.leader && !quiesce_heartbeat) sleep_.forget_deferred();
  if (!quiesce_heartbeat) return;
  sleep_.forget_deferred();
  if (!follows_quiesced(msg.from, msg.ballot, msg.commit)) return;
  sleep_.leader = msg.from;
  sleep_.ballot = msg.ballot;
  sleep_.commit = msg.commit;
  sleep_.deferred = true;
  maybe_sleep_deferred();
}

// This replica follows `leader`, whose quiesce heartbeat of `ballot` said
// `commit`, and holds exactly that chosen prefix. Its promise may be below
// that ballot: a heartbeat raises no promise, and a follower that caught up
// by catch-up rather than accepts never promised the leader's ballot.
bool Replica::Core::follows_quiesced(NodeId leader, Ballot ballot, Slot commit) const {
  return proposer.role() == Role::follower && ctx.leader == leader && ctx.hard.promised <= ballot &&
         ctx.log.commit() == commit;
}

// A follower sleeps on the quiesce heartbeat it noted once nothing of its
// own keeps it awake.
void Replica::Core::maybe_sleep_deferred() {
  if (!sleep_.deferred) return;
  if (!follows_quiesced(sleep_.leader, sleep_.ballot, sleep_.commit)) {
    sleep_.forget_deferred();
    return;
  }
  if (rejoin.in_progress() || learner.busy() || !follower_reads.idle()) return;
  // Invariant 12: a follower sleeps only under the leader of its promise,
  // holding the chosen prefix that leader holds.
  SYNOD_ASSERT(ctx.leader.valid() && ctx.log.commit() == sleep_.commit,
               "a follower falls asleep under {} without following it", sleep_.leader.value);
  sleep_.deferred = false;
  sleep_.asleep = true;
  // A pre-vote of its own still open would campaign, on a stale reply,
  // against the leader it now sleeps under.
  proposer.stop_probing();
}

// Before a message is handled: what keeps a sleeper asleep is only what
// confirms the state it fell asleep in, or what it answers without changing
// it. A host that wakes sleepers itself (GroupSet, with the silence of the
// leader's node) asks this first, through Replica::wakes_on.
Replica::Core::SleepVerdict Replica::Core::sleep_verdict(const Message& msg) const {
  // A catch-up request only reads the chosen log or the snapshot
  // (Learner::on_catchup_request): a sleeper answers it asleep. Whoever asks
  // is not a member that needs the group awake (a leader sleeps only once
  // every member holds its whole log); it is a node removed from the group
  // still catching up, or a replica that asks a follower rather than the
  // leader. Waking for it left a follower awake with no quiesce heartbeat to
  // sleep on again, so its election clock ran out and its probe woke the
  // whole group (synod-sim --quiesce seed 22502). A snapshot transfer served
  // asleep is remembered until the replica wakes (SnapshotSender forgets
  // idle ones on ticks): one per asking node, sharing the snapshot's image.
  if (msg.type == MessageType::catchup_request) return SleepVerdict::stays_asleep;
  if (proposer.leading()) {
    // An acknowledgement of the quiesce heartbeat: the peer holds it all.
    bool confirms = msg.type == MessageType::heartbeat_ack && msg.ballot == proposer.ballot() &&
                    msg.commit == ctx.log.commit();
    return confirms ? SleepVerdict::stays_asleep : SleepVerdict::wakes;
  }
  bool from_leader = msg.from == sleep_.leader;
  // The quiesce heartbeat again (duplicated, or resent on an earlier wake).
  if (from_leader && msg.type == MessageType::heartbeat && msg.quiesce &&
      msg.ballot == sleep_.ballot && msg.commit == ctx.log.commit())
    return SleepVerdict::stays_asleep;
  // A probe from the leader it sleeps under: that node restarted (a new
  // replica, a follower now) or lost its ballot. The leader is gone: wake
  // as after an election timeout of silence, so this replica's stickiness
  // does not refuse the probe.
  if (from_leader && msg.type == MessageType::probe) return SleepVerdict::wakes_leaderless;
  // A probe from another replica, while the leader it sleeps under counts
  // as heard: refused for stickiness, as an awake follower would, and
  // answered asleep. A host keeps it asleep only while the leader's node is
  // heard, so that leader is live. Waking for it left this follower awake
  // with nothing to sleep on: an election timeout later it no longer
  // counted the sleeping leader as heard, granted the next stray probe, and
  // a live sleeping leader was deposed (synod-sim --groups seed 116).
  if (msg.type == MessageType::probe && ctx.heard_leader_recently())
    return SleepVerdict::stays_asleep;
  // An answer to a learner's rejoin query (a replica that restarted
  // amnesiac as a voter and learnt it is a learner), or a late duplicate:
  // it is noted asleep and wakes nothing, since no rejoin is in progress
  // (Rejoiner::in_progress). Waking for it left a sleeping learner awake
  // for good, with no quiesce heartbeat to sleep on again.
  if (msg.type == MessageType::rejoin_reply && !rejoin.in_progress())
    return SleepVerdict::stays_asleep;
  // A probe reply: falling asleep ended any pre-vote of its own, so this one
  // is stale and dropped, unless it reports chosen slots this replica lacks.
  if (msg.type == MessageType::probe_reply && msg.commit <= ctx.log.commit())
    return SleepVerdict::stays_asleep;
  return SleepVerdict::wakes;
}

void Replica::Core::wake_for(const Message& msg) {
  if (!sleep_.asleep) return;
  switch (sleep_verdict(msg)) {
    case SleepVerdict::stays_asleep:
      return;
    case SleepVerdict::wakes:
      wake(0);
      return;
    case SleepVerdict::wakes_leaderless:
      wake(ctx.config.election_ticks);
      return;
  }
}

void Replica::Core::wake(std::uint64_t leader_silent_ticks) {
  if (!sleep_.asleep) return;
  sleep_ = Quiescence{};
  if (proposer.leading()) {
    proposer.on_wake();
    return;
  }
  ctx.ticks_since_leader = leader_silent_ticks;
  if (leader_silent_ticks < ctx.config.election_ticks) {
    // Stickiness and the election clock continue from the leader's last word.
    election_elapsed = leader_silent_ticks;
    return;
  }
  // The leader's node is silent for an election timeout: forget the leader
  // and campaign soon, at a tick drawn from [1, election_ticks], so the
  // groups of a dead node do not all campaign at once.
  ctx.leader = NodeId{};
  election_elapsed = 0;
  election_timeout = ctx.rng.between(1, ctx.config.election_ticks + 1ull);
  SYNOD_ASSERT(!ctx.heard_leader_recently() && election_timeout <= ctx.config.election_ticks,
               "woken after {} silent ticks, yet sticky", leader_silent_ticks);
}

// tick() of a sleeping replica: nothing runs, no clock moves.
void Replica::Core::tick_asleep() {
  SYNOD_ASSERT(ctx.config.quiesce, "asleep with Config::quiesce off");
  // A voter's rejoin never sleeps: asleep, its queries and campaign would
  // wait for a message that may never come. Whatever makes a sleeping
  // learner a voter (a configuration entry, a snapshot) arrives in a
  // message that wakes it first.
  SYNOD_ASSERT(!rejoin.in_progress(), "a voter sleeps while it rejoins");
  if (!ctx.planted(PlantedBug::quiesced_follower_campaigns) || proposer.leading()) return;
  // The planted bug (docs/testing.md): the follower's election clock runs
  // on in its sleep, and it deposes a live leader.
  if (++election_elapsed < election_timeout || !may_campaign() || rejoin.active()) return;
  reset_election_timer();
  wake(0);
  proposer.campaign(/*force=*/true, /*exclude_self=*/false);
}

}  // namespace synod
