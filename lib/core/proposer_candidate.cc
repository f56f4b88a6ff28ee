// The candidate: pre-vote, phase 1 for all slots at once, and recovery of
// what earlier ballots may have chosen (docs/protocol.md, "Ballots and
// elections"; docs/invariants.md, invariant 4).
#include <algorithm>

#include "proposer.h"

namespace synod::detail {

void Proposer::campaign(bool force, bool exclude_self) {
  if (leading()) step_down(NodeId{});
  probe_.reset();
  ballot_ = Ballot{next_round(ctx_), ctx_.self()};
  SYNOD_ASSERT(ballot_ > ctx_.hard.promised, "a new ballot {}.{} not above the promise",
               ballot_.round, ballot_.node.value);
  // Reports start above this replica's chosen prefix; become_leader starts
  // from the prefix as it is then (it may have grown meanwhile).
  Slot from_slot = ctx_.log.commit().next();
  ctx_.quorum.unpin();  // the ids the last campaign's configurations pinned
  CandidateState& c = state_.emplace<CandidateState>(from_slot, force, exclude_self);

  // Invariant 6 (docs/invariants.md): the candidate's own promise is durable
  // before its Prepare leaves, so a restart never reuses this ballot.
  ctx_.promise(ballot_);
  SYNOD_ASSERT(ctx_.hard.promised == ballot_, "campaigning in a ballot not promised");
  ctx_.leader = NodeId{};
  asked_mask_ = ctx_.quorum.bit(ctx_.self());
  if (!exclude_self) {
    c.promised |= ctx_.quorum.bit(ctx_.self());
    for (Slot s = from_slot; s <= ctx_.log.last(); s = s.next())
      if (const Record* r = ctx_.log.find(s); r && r->value.is_config()) require_config(r->value);
  }
  for (NodeId v : ctx_.quorum.voters()) ask(v);
  if (promised_enough()) become_leader();
}

void Proposer::probe() {
  SYNOD_ASSERT(role() == Role::follower, "only a follower probes");
  probe_ = Probe{Ballot{next_round(ctx_), ctx_.self()}, ctx_.quorum.bit(ctx_.self())};
  if (ctx_.quorum.is_quorum(probe_->yes)) {
    campaign(/*force=*/false, /*exclude_self=*/false);
    return;
  }
  for (NodeId v : ctx_.quorum.voters()) {
    if (v == ctx_.self()) continue;
    Message m;
    m.type = MessageType::probe;
    m.to = v;
    m.ballot = probe_->ballot;
    ctx_.send(std::move(m));
  }
}

void Proposer::on_probe_reply(const Message& msg) {
  if (!probe_ || role() != Role::follower || msg.ballot != probe_->ballot || msg.reject) return;
  probe_->yes |= ctx_.quorum.bit(msg.from);
  if (!ctx_.quorum.is_quorum(probe_->yes)) return;
  campaign(/*force=*/false, /*exclude_self=*/false);
}

void Proposer::retry_campaign() {
  CandidateState& c = candidate();
  // Still short of an acceptor's compaction point after an election timeout:
  // the peers that hold those slots may be gone. A new ballot asks again, and
  // the promisers reachable now decide what is left to catch up.
  bool stuck_behind = ctx_.log.commit() < c.must_reach;
  if (stuck_behind || ctx_.max_round_seen > ballot_.round || ctx_.hard.promised > ballot_) {
    campaign(c.force, c.exclude_self);
    return;
  }
  for (NodeId v : c.asked) {
    auto i = *ctx_.quorum.index_of(v);
    if (!c.promises[i].done) send_prepare(v, c.promises[i].next);
  }
  // Voters of configurations learnt since the campaign began (a snapshot or
  // catch-up may have brought a newer one) are asked too: their answer, or
  // their refusal naming a higher ballot, moves the campaign on.
  for (NodeId v : ctx_.quorum.voters()) ask(v);
}

// Phase 1 asks every voter of every configuration that may govern a slot
// from the first one asked: those held, and any reported in a promise (a
// configuration chosen there governs later slots, whose acceptances only a
// majority of it is sure to report).
void Proposer::ask(NodeId v) {
  VoterMask b = ctx_.quorum.bit(v);
  if (v == ctx_.self() || b == 0 || (asked_mask_ & b)) return;
  CandidateState& c = candidate();
  asked_mask_ |= b;
  c.asked.push_back(v);
  send_prepare(v, c.from_slot);
}

void Proposer::require_config(const Value& v) {
  std::optional<Membership> m = membership_of(v);
  if (!m) return;
  CandidateState& c = candidate();
  for (const Membership& known : c.required)
    if (known == *m) return;
  ctx_.quorum.pin(*m);  // no room: unnamed voters never promise (safe)
  c.required.push_back(*m);
  for (NodeId id : m->voters) ask(id);
}

bool Proposer::promised_enough() const {
  const CandidateState& c = candidate();
  if (ctx_.log.commit() < c.must_reach) return false;
  if (!ctx_.quorum.is_quorum(c.promised)) return false;
  for (const Membership& m : c.required)
    if (!ctx_.quorum.is_quorum(c.promised, m)) return false;
  return true;
}

void Proposer::send_prepare(NodeId to, Slot from) {
  Message m;
  m.type = MessageType::prepare;
  m.to = to;
  m.ballot = ballot_;
  m.slot = from;
  m.force = candidate().force;
  ctx_.send(std::move(m));
}

void Proposer::merge_report(CandidateState& c, const Entry& e, bool chosen) {
  auto [it, fresh] = c.reported.try_emplace(e.slot, Reported{e.ballot, e.value, chosen});
  if (fresh) return;
  Reported& r = it->second;
  // The planted bug keeps the first report, whatever the ballots say.
  if (r.chosen || ctx_.planted(PlantedBug::choose_not_highest)) return;
  bool take = chosen || e.ballot > r.ballot;
  if (take) r = Reported{e.ballot, e.value, chosen};
  SYNOD_ASSERT(r.chosen || r.ballot >= e.ballot, "slot {}: a lower report replaced a higher one",
               e.slot.value);
}

void Proposer::on_promise(const Message& msg) {
  if (!campaigning() || msg.ballot != ballot_) return;
  CandidateState& c = candidate();
  auto idx = ctx_.quorum.index_of(msg.from);
  if (!idx || c.promises[*idx].done) return;
  PeerPromise& peer = c.promises[*idx];
  // The acceptor compacted chosen slots this candidate does not hold: its
  // report starts at its log's first slot, and every slot before it is
  // chosen. The candidate leads only once it caught up past them (the
  // promise's commit starts the catch-up), so every slot after its commit
  // index is covered by every promiser's report.
  if (msg.slot > peer.next) {
    c.must_reach = std::max(c.must_reach, msg.slot.prev());
    peer.next = msg.slot;
  }
  SYNOD_ASSERT(peer.next >= c.from_slot, "promise chunks from {}, before the campaign's {}",
               peer.next.value, c.from_slot.value);
  // Every chunk of a promise for this ballot reports true acceptances, so even
  // a duplicate is safe to merge.
  for (const Entry& e : msg.entries) {
    merge_report(c, e, e.slot <= msg.commit);
    if (e.value.is_config()) require_config(e.value);
  }
  if (msg.slot != peer.next) return;  // a duplicate or stale chunk
  if (msg.more) {
    peer.next = msg.slot_end;
    send_prepare(msg.from, peer.next);
    return;
  }
  peer.done = true;
  SYNOD_ASSERT(ctx_.quorum.bit(msg.from) != 0, "a promise from {} counted under no bit",
               msg.from.value);
  c.promised |= ctx_.quorum.bit(msg.from);
  if (promised_enough()) become_leader();
}

// The value a new leader proposes for slot s: a chosen value if any acceptor
// reported one, else the highest-ballot value reported (Paxos Made Simple
// P2c), else a no-op. Invariant 4 (docs/invariants.md).
Value Proposer::recovered_value(const CandidateState& c, Slot s) const {
  auto it = c.reported.find(s);
  const Record* own = c.exclude_self ? nullptr : ctx_.log.find(s);
  if (it == c.reported.end()) return own ? own->value : Value::noop();
  const Reported& r = it->second;
  if (ctx_.planted(PlantedBug::choose_not_highest) && own) return own->value;
  if (r.chosen || !own) return r.value;
  bool own_wins = own->ballot > r.ballot;
  return own_wins ? own->value : r.value;
}

void Proposer::become_leader() {
  SYNOD_ASSERT(ctx_.hard.promised == ballot_, "leading a ballot this replica did not promise");
  SYNOD_ASSERT(promised_enough(), "leading without a quorum of complete promises");
  CandidateState won = std::move(candidate());
  LeaderState& l = state_.emplace<LeaderState>();
  ctx_.leader = ctx_.self();
  ctx_.ticks_since_leader = 0;

  // Pitfall: re-propose every slot up to the highest reported, filling holes
  // with no-ops, before the commit index can move past them.
  Slot last = won.exclude_self ? Slot{} : ctx_.log.last();
  if (!won.reported.empty()) last = std::max(last, won.reported.rbegin()->first);
  Slot first = ctx_.log.commit().next();
  l.next_slot = first;
  l.sent_upto = ctx_.log.commit();
  for (Slot s = first; s <= last; s = s.next()) assign_slot(recovered_value(won, s), 0);
  // Nothing to recover: a no-op gives this ballot a slot to commit at once,
  // which the commit index and ReadIndex wait for.
  if (l.next_slot == first) assign_slot(Value::noop(), 0);
  SYNOD_ASSERT(l.next_slot > last, "recovery stopped at {} below the last reported slot {}",
               l.next_slot.value, last.value);
  // Every slot a previous leader may have chosen is at or below the last one
  // re-proposed here: once that is committed, the commit index is current.
  reads_.start_term(l.next_slot.prev());
  l.lease_wait = ctx_.config.lease_reads ? ctx_.config.election_ticks : 0;
  ctx_.quorum.unpin();
  if (won.exclude_self) ctx_.set_voting(true);

  send_admitted();
  send_heartbeats();
  flush();
}

}  // namespace synod::detail
