// The leader: batching and pipelining of phase 2, the commit index, heartbeats,
// resends and check-quorum (docs/protocol.md, "Phase 2, commit and catch-up").
#include <algorithm>

#include "acceptor.h"
#include "proposer.h"

namespace synod::detail {

bool Proposer::can_flush() const {
  if (!leading()) return false;
  const LeaderState& l = leader();
  bool queued = !l.pending.empty() || l.pending_config || filling_to_config();
  return (queued && l.next_slot <= window_end()) || reads_.round_wanted();
}

void Proposer::flush() {
  if (!leading()) return;
  // Reads asked since the last round share the next one, sent now.
  if (reads_.round_wanted()) send_heartbeats();
  LeaderState& l = leader();
  Slot first_new = l.next_slot;
  // A configuration goes in a slot of its own, ahead of the commands queued.
  if (l.pending_config && l.next_slot <= window_end()) {
    bool ticketed = l.pending_config->ticket.value != 0;
    if (ticketed) l.inflight_tickets.push_back(l.pending_config->ticket);
    assign_slot(config_value(l.pending_config->membership), ticketed ? 1u : 0u);
    l.pending_config.reset();
    // One change at a time: the next waits until this one governs.
    SYNOD_ASSERT(config_busy(), "a configuration in flight, yet not busy");
  }
  batch_pending();
  // A configuration chosen governs only alpha slots later: with no commands
  // to fill them, no-ops do, so the change takes effect (and the next one
  // may start) without waiting for traffic.
  while (l.pending.empty() && filling_to_config() && l.next_slot <= window_end())
    assign_slot(Value::noop(), 0);
  // Invariant 11 (docs/invariants.md): nothing proposed past the window.
  SYNOD_ASSERT(l.next_slot == first_new || l.next_slot.prev() <= window_end(),
               "slot {} proposed past the window end {}", l.next_slot.prev().value,
               window_end().value);
  if (l.next_slot > first_new) send_admitted();
}

// Queued commands into slots, one batch per slot, while the window allows.
void Proposer::batch_pending() {
  LeaderState& l = leader();
  while (!l.pending.empty() && l.next_slot <= window_end()) {
    // One block per batch, its size known when cut (PendingCommands).
    Value batch = l.pending.take_batch(ctx_.config.batch_count_max, ctx_.config.batch_bytes_max,
                                       [&](Ticket t) { l.inflight_tickets.push_back(t); });
    const std::size_t count = batch.commands().size();
    SYNOD_ASSERT(count > 0 && count <= ctx_.config.batch_count_max &&
                     batch.byte_size() <= ctx_.config.batch_bytes_max,
                 "a batch of {} commands, {} bytes", count, batch.byte_size());
    assign_slot(batch, static_cast<std::uint32_t>(count));
  }
  SYNOD_ASSERT(!l.pending.empty() || l.pending.bytes() == 0, "{} bytes counted for no proposal",
               l.pending.bytes());
}

// Accepts for every assigned slot the in-flight window now admits.
void Proposer::send_admitted() {
  const LeaderState& l = leader();
  if (l.lease_wait > 0) return;
  send_accepts(l.sent_upto.next(), std::min(window_end(), l.next_slot.prev()), 0);
}

void Proposer::assign_slot(const Value& v, std::uint32_t tickets) {
  LeaderState& l = leader();
  Slot s = l.next_slot;
  l.next_slot = s.next();
  // The leader accepts its own proposal under the acceptor's rules.
  accept_entry(ctx_, Entry{s, ballot_, v});
  l.inflight.push_back(LeaderState::InFlight{0, now_, tickets});
  SYNOD_ASSERT(l.inflight.size() == l.next_slot.value - ctx_.log.commit().next().value,
               "{} slots in flight for [{}, {})", l.inflight.size(), ctx_.log.commit().next().value,
               l.next_slot.value);
}

LeaderState::InFlight* Proposer::inflight(Slot s) {
  LeaderState& l = leader();
  Slot first = ctx_.log.commit().next();
  if (s < first || s.value - first.value >= l.inflight.size()) return nullptr;
  return &l.inflight[s.value - first.value];
}

// Accepts for [lo, hi] to every peer not in skip, consecutive slots in
// messages of at most message_bytes_max.
void Proposer::send_accepts(Slot lo, Slot hi, VoterMask skip) {
  if (hi < lo) return;
  LeaderState& l = leader();
  SYNOD_ASSERT(hi < l.next_slot, "accepts for slot {}, never assigned", hi.value);
  if (skip == 0 && hi > l.sent_upto) l.sent_upto = hi;
  Slot s = lo;
  while (s <= hi) {
    Slot next;
    auto entries = ctx_.log.collect(s, hi, ctx_.config.message_bytes_max / 2, &next);
    for (Slot t = s; t < next; t = t.next())
      if (InFlight* f = inflight(t)) f->sent_tick = now_;
    // Every peer gets the same entries: copies for all but the last, which
    // takes them (a copy is a vector and a reference count per value).
    NodeId to[kMemberIdCapacity];
    std::size_t n = 0;
    for (NodeId v : ctx_.quorum.members())
      if (v != ctx_.self() && !(skip & ctx_.quorum.bit(v))) to[n++] = v;
    for (std::size_t i = 0; i < n; ++i) {
      Message m;
      m.type = MessageType::accept;
      m.to = to[i];
      m.ballot = ballot_;
      m.commit = ctx_.log.commit();
      if (i + 1 < n)
        m.entries = entries;
      else
        m.entries = std::move(entries);
      ctx_.send(std::move(m));
    }
    s = next;
  }
}

void Proposer::on_accepted(const Message& msg) {
  if (!leading() || msg.ballot != ballot_) return;
  // Pitfall: only acceptances in this very ballot count toward a quorum.
  VoterMask who = ctx_.quorum.bit(msg.from);
  leader().heard |= who;
  ack(msg.slot, msg.slot_end.prev(), who);
  // ack may have stepped down (a leader its own configuration removed).
  if (transferring() && msg.from == transfer_target() && !leader().transfer->handed_over)
    maybe_hand_over();
}

void Proposer::on_heartbeat_ack(const Message& msg) {
  if (!leading() || msg.ballot != ballot_) return;
  LeaderState& l = leader();
  l.heard |= ctx_.quorum.bit(msg.from);
  if (msg.slot.value != 0) reads_.on_ack(msg.from, msg.slot.value);
  if (!l.promote_wanted.empty()) maybe_promote(msg.from, msg.commit);
}

// Invariant 6 (docs/invariants.md): the leader counts its own acceptance
// only once its own write is durable.
void Proposer::on_durable(const Entry& e) {
  if (!leading() || e.ballot != ballot_) return;
  SYNOD_ASSERT(e.slot < leader().next_slot, "slot {} durable in this ballot, never assigned",
               e.slot.value);
  ack(e.slot, e.slot, ctx_.quorum.bit(ctx_.self()));
}

void Proposer::ack(Slot lo, Slot hi, VoterMask who) {
  for (Slot s = lo; s <= hi; s = s.next())
    if (InFlight* f = inflight(s)) f->acks |= who;
  commit_chosen_prefix();
}

// Invariant 5 (docs/invariants.md): the commit index moves forward only over
// slots a majority of their governing configuration accepted in this ballot.
void Proposer::commit_chosen_prefix() {
  LeaderState& l = leader();
  Slot commit = ctx_.log.commit();
  // Each slot needs a majority of the configuration governing it.
  while (!l.inflight.empty() && ctx_.quorum.is_quorum_at(commit.next(), l.inflight.front().acks)) {
    commit = commit.next();
    const Record* r = ctx_.log.find(commit);
    SYNOD_ASSERT(r != nullptr && r->ballot == ballot_,
                 "slot {} committed by ballot {}.{}, which it does not hold", commit.value,
                 ballot_.round, ballot_.node.value);
    // One allocation per slot rather than one per doubling: a batch's
    // outcomes grew the vector about eight times, each a mid-sized block
    // from malloc's slow path, once per batch (docs/benchmarks.md, "Many
    // groups": three groups make three times the batches per command).
    // Geometric still, for many small slots committed at once.
    std::vector<ProposalOutcome>& outcomes = ctx_.out.outcomes;
    std::size_t needed = outcomes.size() + l.inflight.front().tickets;
    if (needed > outcomes.capacity()) outcomes.reserve(std::max(needed, 2 * outcomes.capacity()));
    for (std::uint32_t i = 0; i < l.inflight.front().tickets; ++i) {
      ctx_.out.outcomes.push_back({l.inflight_tickets.front(), Outcome::committed, commit, i, {}});
      l.inflight_tickets.pop_front();
    }
    l.inflight.pop_front();
  }
  if (commit == ctx_.log.commit()) return;
  ctx_.set_commit(commit);
  SYNOD_ASSERT(ctx_.log.commit() == commit, "commit {} did not reach {}", ctx_.log.commit().value,
               commit.value);
  reads_.on_commit();
  leave_if_removed();
  if (!leading()) return;
  send_admitted();  // the window moved
}

void Proposer::send_heartbeats(bool quiesce) {
  leader().ticks_since_heartbeat = 0;
  Slot round{reads_.next_round()};
  for (NodeId v : ctx_.quorum.members()) {
    if (v == ctx_.self()) continue;
    Message m;
    m.type = MessageType::heartbeat;
    m.to = v;
    m.ballot = ballot_;
    m.slot = round;
    m.commit = ctx_.log.commit();
    m.quiesce = quiesce;
    ctx_.send(std::move(m));
  }
}

bool Proposer::idle_leader() const {
  if (!leading() || transferring() || !reads_.idle() || config_busy()) return false;
  const LeaderState& l = leader();
  // A learner still to promote keeps it awake; an id wanted whose addition
  // was never chosen (or that is a voter already) is never promoted by this
  // leader, so it does not.
  for (NodeId id : l.promote_wanted)
    if (ctx_.quorum.latest().is_learner(id)) return false;
  return l.pending.empty() && !l.pending_config && !filling_to_config() && l.inflight.empty() &&
         l.next_slot == ctx_.log.commit().next() && l.lease_wait == 0;
}

void Proposer::on_wake() {
  if (!leading()) return;
  // Its clock stood still while it slept: no lease may rest on it.
  reads_.spend_lease();
  LeaderState& l = leader();
  l.heard = 0;
  l.ticks_in_quorum_window = 0;
  send_heartbeats();
}

// Accepts lost on the way are sent again to the peers that have not answered.
void Proposer::resend_unacked() {
  const LeaderState& l = leader();
  if (l.lease_wait > 0) return;
  Slot s = ctx_.log.commit().next();
  std::uint64_t stale = 2ull * ctx_.config.heartbeat_ticks;
  VoterMask all = 0;
  for (NodeId v : ctx_.quorum.members()) all |= ctx_.quorum.bit(v);
  for (const InFlight& f : l.inflight) {
    if (s > l.sent_upto) break;
    SYNOD_ASSERT(f.sent_tick <= now_, "slot {} sent in the future", s.value);
    if (now_ - f.sent_tick >= stale) {
      VoterMask skip = f.acks | ctx_.quorum.bit(ctx_.self());
      if ((skip & all) != all) send_accepts(s, s, skip);
    }
    s = s.next();
  }
}

// Check-quorum: a leader that has not heard from a majority within an
// election timeout steps down rather than block proposals forever.
void Proposer::check_quorum() {
  if (!leading()) return;
  LeaderState& l = leader();
  if (++l.ticks_in_quorum_window < ctx_.config.election_ticks) return;
  VoterMask heard = l.heard | ctx_.quorum.bit(ctx_.self());
  l.heard = 0;
  l.ticks_in_quorum_window = 0;
  if (!ctx_.quorum.is_quorum(heard)) step_down(NodeId{});
}

}  // namespace synod::detail
