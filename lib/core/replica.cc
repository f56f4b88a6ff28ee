// Replica: wires proposer, acceptor and learner to one shared context, runs
// the timers, validates incoming messages and builds Readys.
#include "synod/replica.h"

#include "acceptor.h"
#include "context.h"
#include "follower_reads.h"
#include "input_bounds.h"
#include "learner.h"
#include "proposer.h"
#include "rejoin.h"

namespace synod {

using namespace detail;

class Replica::Core {
 public:
  Core(const Config& config, const Storage& storage);

  void tick();
  void step(const Message& msg);
  ProposeResult propose(std::string command);
  ProposeResult read();
  Status compact(Slot slot, std::string data);
  Status transfer_leadership(NodeId to) { return proposer.transfer(to); }
  void campaign() {
    if (!rejoin.active() && may_campaign())
      proposer.campaign(/*force=*/true, /*exclude_self=*/false);
  }
  bool has_ready() const {
    return !ctx.out.empty() || learner.has_committed() || proposer.can_flush();
  }
  // Rejoining after amnesia: it may not vote, lead or serve yet. (Only a
  // replica configured as a voter rejoins; it stays rejoining even while the
  // configurations it holds name it a learner, since a newer one it has not
  // learnt yet may count on its vote.)
  bool rejoining() const { return rejoin.active() && !proposer.leading(); }
  // Campaigning needs a vote: learners and removed members never campaign.
  // (A snapshot half received does not stop it: its source may be gone for
  // good, and a candidate behind a compaction point catches up before it
  // leads anyway.)
  bool may_campaign() const { return ctx.quorum.is_voter(ctx.self()); }
  ProposeResult change_membership(MembershipOp op, NodeId node) {
    if (rejoining()) return {Status::rejoining, {}, ctx.leader};
    return proposer.change_membership(op, node);
  }
  Ready ready();
  void advance(const Ready& rd);
  ReplicaInfo info() const;
  Role role() const { return rejoining() ? Role::rejoining : proposer.role(); }
  NodeId leader() const { return ctx.leader; }

 private:
  void recover(const Storage& storage);
  void hear_leader(NodeId from, Ballot b);
  void outranked(NodeId hint);
  void reset_election_timer();

  Context ctx;
  Acceptor acceptor{ctx};
  Proposer proposer{ctx};
  Learner learner;
  Rejoiner rejoin{ctx, proposer};
  FollowerReads follower_reads{ctx};
  std::uint64_t election_elapsed = 0;
  std::uint64_t election_timeout = 0;
};

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
  if (!proposer.leading()) ++ctx.ticks_since_leader;
  proposer.tick();
  SYNOD_ASSERT(!proposer.leading() || ctx.leader == ctx.self(), "leading, yet following {}",
               ctx.leader.value);
  learner.tick();
  rejoin.tick();
  follower_reads.tick();
  if (proposer.leading() || ++election_elapsed < election_timeout) return;
  reset_election_timer();
  if (rejoin.active())
    rejoin.on_election_timeout();
  else if (!may_campaign())
    return;
  else if (proposer.campaigning())
    proposer.retry_campaign();
  else
    proposer.probe();
}

// A ballot above the one this replica leads or campaigns with was promised
// or seen: stop proposing.
void Replica::Core::outranked(NodeId hint) {
  if (proposer.role() != Role::follower && ctx.hard.promised > proposer.ballot())
    proposer.step_down(hint);
  SYNOD_ASSERT(proposer.role() == Role::follower || proposer.ballot() == ctx.hard.promised,
               "proposing in {}.{} below the promise", proposer.ballot().round,
               proposer.ballot().node.value);
}

void Replica::Core::hear_leader(NodeId from, Ballot b) {
  // A live leader of a higher ballot: this replica's own ballot is over.
  if (proposer.role() != Role::follower && b > proposer.ballot()) proposer.step_down(from);
  if (proposer.role() != Role::follower) return;
  SYNOD_ASSERT(from != ctx.self(), "hearing itself as another leader");
  proposer.stop_probing();
  ctx.leader = from;
  ctx.ticks_since_leader = 0;
  election_elapsed = 0;
}

void Replica::Core::step(const Message& msg) {
  if (!admit(ctx, msg)) return;
  // Invariant 8 (docs/invariants.md): what got in is addressed to this
  // replica's group, from an id it knows (a learner hears its whole group).
  SYNOD_ASSERT(msg.group == ctx.config.group && msg.to == ctx.self() && msg.from != ctx.self(),
               "admitted a {} not addressed to this replica", to_string(msg.type));
  SYNOD_ASSERT(!ctx.quorum.is_voter(ctx.self()) || ctx.quorum.index_of(msg.from).has_value(),
               "admitted a {} from {}, whom no configuration names", to_string(msg.type),
               msg.from.value);
  // A probed ballot is only a question: it raises nothing.
  bool real_ballot = msg.type != MessageType::probe && msg.type != MessageType::probe_reply;
  if (real_ballot && msg.ballot.round > ctx.max_round_seen) ctx.max_round_seen = msg.ballot.round;
  bool voting = !rejoin.active();
  // A learner waiting to rejoin still acknowledges heartbeats (so the leader
  // sees it catch up and promotes it); a learner's acknowledgement counts in
  // no quorum.
  bool acks = voting || !ctx.quorum.is_voter(ctx.self());

  switch (msg.type) {
    case MessageType::prepare:
      // An amnesiac replica never answers (docs/invariants.md, invariant 6).
      if (!voting) return;
      if (acceptor.on_prepare(msg)) {
        outranked(NodeId{});
        if (ctx.leader != ctx.self()) ctx.leader = NodeId{};
      }
      // Every chunk of a granted phase 1 (not only the first) holds off this
      // replica's own election: a long recovery must not be pre-empted.
      if (ctx.hard.promised == msg.ballot) election_elapsed = 0;
      return;
    case MessageType::accept:
      if (voting && acceptor.on_accept(msg)) hear_leader(msg.from, msg.ballot);
      learner.on_leader_commit(msg.from, msg.ballot, msg.commit);
      proposer.on_caught_up();
      return;
    case MessageType::heartbeat:
      if (acks && acceptor.on_heartbeat(msg)) {
        hear_leader(msg.from, msg.ballot);
        acceptor.ack_heartbeat(msg);
      }
      learner.on_leader_commit(msg.from, msg.ballot, msg.commit);
      return;
    case MessageType::promise:
      // Only a voter this replica's campaign asked promises it anything.
      if (!proposer.asked(msg.from)) {
        ++ctx.refused.unasked;
        return;
      }
      proposer.on_promise(msg);
      learner.on_peer_commit(msg.from, msg.commit);
      return;
    case MessageType::accepted:
      proposer.on_accepted(msg);
      return;
    case MessageType::heartbeat_ack:
      proposer.on_heartbeat_ack(msg);
      return;
    case MessageType::reject:
      if (proposer.role() != Role::follower && msg.ballot > proposer.ballot())
        proposer.step_down(msg.ballot.node);
      learner.on_peer_commit(msg.from, msg.commit);
      return;
    case MessageType::catchup_request:
      learner.on_catchup_request(msg);
      return;
    case MessageType::catchup_reply:
      if (!proposer.leading()) learner.on_catchup_reply(msg);
      proposer.on_caught_up();
      return;
    case MessageType::snapshot_chunk:
      if (!proposer.leading()) learner.on_snapshot_chunk(msg);
      proposer.on_caught_up();
      return;
    case MessageType::rejoin_query:
      rejoin.answer(msg);
      return;
    case MessageType::probe:
      if (voting) acceptor.on_probe(msg);
      return;
    case MessageType::probe_reply:
      proposer.on_probe_reply(msg);
      learner.on_peer_commit(msg.from, msg.commit);
      return;
    case MessageType::timeout_now:
      // Only from the leader this replica follows, and only when voting.
      if (voting && may_campaign() && msg.from == ctx.leader && msg.ballot >= ctx.hard.promised)
        proposer.campaign(/*force=*/true, /*exclude_self=*/false);
      return;
    case MessageType::read_index_request:
      proposer.on_read_index_request(msg);
      return;
    case MessageType::read_index_reply:
      follower_reads.on_reply(msg);
      return;
    case MessageType::rejoin_reply:
      rejoin.on_reply(msg);
      learner.on_peer_commit(msg.from, msg.commit);
      return;
  }
}

ProposeResult Replica::Core::read() {
  if (rejoining()) return {Status::rejoining, {}, ctx.leader};
  if (proposer.role() != Role::follower) return proposer.read();
  // A follower asks the leader it hears for the read index.
  if (!ctx.heard_leader_recently()) return {Status::not_leader, {}, ctx.leader};
  Ticket t = proposer.new_ticket();
  follower_reads.request(t);
  return {Status::ok, t, ctx.leader};
}

ProposeResult Replica::Core::propose(std::string command) {
  if (rejoining()) return {Status::rejoining, {}, ctx.leader};
  return proposer.propose(std::move(command));
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
ProposeResult Replica::propose(std::string command) { return core_->propose(std::move(command)); }
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

}  // namespace synod
