// Replica: wires proposer, acceptor and learner to one shared context
// (replica_core.h), recovers from storage, runs the timers and builds Readys;
// incoming messages go through replica_step.cc.
#include "replica_core.h"

namespace synod {

using namespace detail;

Replica::Core::Core(const Config& config, const Storage& storage)
    : ctx(config), learner(ctx, config.applied) {
  // A member bit freed by the quorum is cleared everywhere it is held before
  // it names another id.
  ctx.quorum.set_on_freed([this](VoterMask freed) {
    proposer.forget(freed);
    rejoin.forget(freed);
  });
  std::string why;
  SYNOD_ASSERT(config.validate(&why) == Status::ok, "invalid config: {}", why);
  recover(storage);
  reset_election_timer();
  bool amnesiac = storage.empty() ? config.join_existing : !ctx.hard.voting;
  // A replica configured as a learner that starts empty is a new member
  // joining: it never voted, so it has nothing to rejoin. (Treating it as
  // amnesiac would make every promoted newcomer rejoin, and a 4-voter
  // cluster with one voter down could then never elect.) A voter that lost
  // its disk must restart configured as a voter: docs/protocol.md.
  if (amnesiac && ctx.quorum.is_voter(ctx.self())) rejoin.start();
  // The host knows the configured membership; it hears of another one the
  // storage held.
  if (!(ctx.quorum.latest() == Membership{config.voters, config.learners}))
    ctx.out.membership = ctx.quorum.latest();
}

void Replica::Core::recover(const Storage& storage) {
  ctx.hard = storage.hard_state();
  // Promised before rounds were bounded (docs/protocol.md, "Input the core
  // refuses"): no correct ballot is above it, so this replica can never vote
  // again. It must be wiped and rejoin.
  SYNOD_ASSERT(ctx.hard.promised.round <= kRoundMax,
               "the stored promise (round {}) is a forged ballot; wipe this replica's storage and "
               "restart it with join_existing",
               ctx.hard.promised.round);
  Snapshot snap = storage.snapshot();
  std::vector<Entry> entries = storage.entries();
  // Entries at or below the snapshot's slot are kept only as the unbroken
  // run that ends at it (the compaction tail, chosen values); anything else
  // there is an old acceptance the snapshot superseded.
  Slot first = snap.meta.slot.next();
  if (!snap.empty()) {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it)
      if (it->slot == first.prev() && it->slot.value > 0) first = it->slot;
    ctx.snapshot = snap;
    ctx.log.start_at(first);
    ctx.quorum.reset(snap.meta.membership, snap.meta.slot.next(), snap.meta.pending,
                     snap.meta.pending_from);
  }
  for (const Entry& e : entries) {
    if (e.slot < first) continue;
    ctx.log.accept(e.slot, e.ballot, e.value);
    // Accepting in a ballot implies promising it: a torn write may have kept
    // the entry but lost the hard state that raised the promise.
    if (e.ballot > ctx.hard.promised) ctx.hard.promised = e.ballot;
  }
  ctx.max_round_seen = ctx.hard.promised.round;
  // The stored commit covers only entries that are really there (a torn
  // write may have kept the hard state and lost an entry), and at least the
  // snapshot (a torn write may have kept the snapshot and lost the hard state).
  Slot target = std::max(ctx.hard.commit, snap.meta.slot);
  Slot commit = ctx.log.commit();
  while (commit < target && ctx.log.find(commit.next())) commit = commit.next();
  ctx.log.advance_commit(commit);
  SYNOD_ASSERT(commit == snap.meta.slot || ctx.log.find(commit) != nullptr,
               "recovered commit {} not held", commit.value);
  SYNOD_ASSERT(commit >= snap.meta.slot, "the compaction tail below {} has a hole",
               snap.meta.slot.value);
  ctx.hard.commit = commit;
  // Configurations chosen after the snapshot (those before are in its
  // metadata) join the membership.
  ctx.learn_configs(snap.meta.slot, commit);
  learner.restore_at_start(snap);
}

void Replica::Core::reset_election_timer() {
  election_elapsed = 0;
  election_timeout = ctx.rng.between(ctx.config.election_ticks, 2ull * ctx.config.election_ticks);
  SYNOD_ASSERT(election_timeout >= ctx.config.election_ticks, "an election timeout below {}",
               ctx.config.election_ticks);
}

void Replica::Core::tick() {
  maybe_sleep_deferred();
  if (sleep_.asleep) {
    tick_asleep();
    return;
  }
  if (!proposer.leading()) ++ctx.ticks_since_leader;
  if (proposer.tick(leader_may_sleep())) fall_asleep_leading();
  SYNOD_ASSERT(!proposer.leading() || ctx.leader == ctx.self(), "leading, yet following {}",
               ctx.leader.value);
  learner.tick();
  rejoin.tick();
  follower_reads.tick();
  if (proposer.leading() || ++election_elapsed < election_timeout) return;
  reset_election_timer();
  // This replica timed its leader out: a quiesce heartbeat it could not
  // sleep on yet is stale now. Sleeping on it later (once a catch-up ends,
  // say) would leave its probe or prepare in flight from a sleeper: the
  // answers wake it into a campaign against a leader that sleeps.
  sleep_.forget_deferred();
  if (rejoin.active())
    rejoin.on_election_timeout(learner.receiver().active());
  else if (!may_campaign())
    return;
  else if (proposer.campaigning())
    proposer.retry_campaign();
  else
    proposer.probe();
}

ProposeResult Replica::Core::read() {
  wake(0);
  if (rejoining()) return {Status::rejoining, {}, ctx.leader};
  if (proposer.role() != Role::follower) return proposer.read();
  // A follower asks the leader it hears for the read index.
  if (!ctx.heard_leader_recently()) return {Status::not_leader, {}, ctx.leader};
  Ticket t = proposer.new_ticket();
  follower_reads.request(t);
  return {Status::ok, t, ctx.leader};
}

ProposeResult Replica::Core::propose(std::string_view command) {
  wake(0);
  if (rejoining()) return {Status::rejoining, {}, ctx.leader};
  return proposer.propose(command);
}

Status Replica::Core::compact(Slot slot, std::string data) {
  if (slot.value == 0 || slot > learner.applied() || slot <= ctx.snapshot.meta.slot)
    return Status::invalid_argument;
  const Record* r = ctx.log.find(slot);
  SYNOD_ASSERT(r != nullptr, "applied slot {} has no record", slot.value);
  SnapshotMeta meta{slot, r->ballot, {}, {}, {}};
  ctx.quorum.snapshot_at(slot, &meta.membership, &meta.pending, &meta.pending_from);
  learner.compact(Snapshot::of(std::move(meta), std::move(data)));
  return Status::ok;
}

Ready Replica::Core::ready() {
  proposer.flush();
  // Invariant 6 (docs/invariants.md): whatever must be durable before these
  // messages leave is synced first.
  SYNOD_ASSERT(ctx.out.entries.empty() || ctx.out.must_sync, "entries staged without a sync");
  Ready rd;
  rd.snapshot = std::move(ctx.out.snapshot);
  rd.keep_from = ctx.out.keep_from;
  rd.restore = std::move(ctx.out.restore);
  rd.membership = std::move(ctx.out.membership);
  if (ctx.out.hard_state_dirty) rd.hard_state = ctx.hard;
  rd.entries = std::move(ctx.out.entries);
  rd.must_sync = ctx.out.must_sync;
  rd.messages = std::move(ctx.out.messages);
  rd.committed = learner.take_committed();
  rd.outcomes = std::move(ctx.out.outcomes);
  rd.reads = std::move(ctx.out.reads);
  ctx.out = Outbox{};
  return rd;
}

void Replica::Core::advance(const Ready& rd) {
  for (const Entry& e : rd.entries) proposer.on_durable(e);
}

ReplicaInfo Replica::Core::info() const {
  ReplicaInfo i;
  i.id = ctx.self();
  i.role = role();
  i.leader = ctx.leader;
  i.ballot = proposer.ballot();
  i.promised = ctx.hard.promised;
  i.commit = ctx.log.commit();
  i.applied = learner.applied();
  i.last_slot = ctx.log.last();
  i.first_slot = ctx.log.first();
  i.snapshot = ctx.snapshot.meta.slot;
  i.compactions_cut_by_bytes = learner.compactions_cut_by_bytes();
  i.installing = learner.receiver().slot();
  i.installing_bytes = learner.receiver().bytes();
  i.pending_proposals = proposer.pending();
  i.membership = ctx.quorum.latest();
  i.membership_from = ctx.quorum.latest_from();
  i.refused = ctx.refused;
  return i;
}

// ---- Replica: forwards to Core -------------------------------------------

Replica::Replica(const Config& config, const Storage& storage)
    : core_(std::make_unique<Core>(config, storage)) {}
Replica::~Replica() = default;
Replica::Replica(Replica&&) noexcept = default;
Replica& Replica::operator=(Replica&&) noexcept = default;
void Replica::tick() { core_->tick(); }
void Replica::step(const Message& msg) { core_->step(msg); }
ProposeResult Replica::propose(std::string_view command) { return core_->propose(command); }
ProposeResult Replica::read() { return core_->read(); }
Status Replica::compact(Slot slot, std::string data) {
  return core_->compact(slot, std::move(data));
}
ProposeResult Replica::change_membership(MembershipOp op, NodeId node) {
  return core_->change_membership(op, node);
}
Status Replica::transfer_leadership(NodeId to) { return core_->transfer_leadership(to); }
void Replica::campaign() { core_->campaign(); }
bool Replica::has_ready() const { return core_->has_ready(); }
Ready Replica::ready() { return core_->ready(); }
void Replica::advance(const Ready& rd) { core_->advance(rd); }
ReplicaInfo Replica::info() const { return core_->info(); }
Role Replica::role() const { return core_->role(); }
NodeId Replica::leader() const { return core_->leader(); }
bool Replica::quiesced() const { return core_->quiesced(); }
void Replica::wake(std::uint64_t leader_silent_ticks) { core_->wake(leader_silent_ticks); }
bool Replica::wakes_on(const Message& msg) const {
  return core_->quiesced() && core_->sleep_verdict(msg) != Core::SleepVerdict::stays_asleep;
}

}  // namespace synod
