#include "proposer.h"

#include <algorithm>

namespace synod::detail {

Proposer::Proposer(Context& ctx) : ctx_(ctx), promises_(64) {}

// ---- Phase 1 -------------------------------------------------------------

void Proposer::campaign(bool force, bool exclude_self) {
  if (role_ == Role::leader) step_down(NodeId{});
  probing_ = false;
  ballot_ = Ballot{next_round(ctx_), ctx_.self()};
  role_ = Role::candidate;
  force_ = force;
  exclude_self_ = exclude_self;
  // Reports start above this replica's chosen prefix; become_leader starts
  // from the prefix as it is then (it may have grown meanwhile).
  Slot from_slot = ctx_.log.commit().next();
  reported_.clear();
  promised_mask_ = 0;
  must_reach_ = Slot{};
  asked_.clear();
  required_.clear(), ctx_.quorum.unpin();  // and the ids they pinned
  for (auto& p : promises_) p = PeerPromise{false, from_slot};

  // Invariant 6 (docs/invariants.md): the candidate's own promise is durable
  // before its Prepare leaves, so a restart never reuses this ballot.
  ctx_.promise(ballot_);
  ctx_.leader = NodeId{};
  asked_mask_ = ctx_.quorum.bit(ctx_.self());
  from_slot_ = from_slot;
  if (!exclude_self_) promised_mask_ |= ctx_.quorum.bit(ctx_.self());
  if (!exclude_self_)
    for (Slot s = from_slot; s <= ctx_.log.last(); s = s.next())
      if (const Record* r = ctx_.log.find(s); r && r->value.is_config()) require_config(r->value);
  for (NodeId v : ctx_.quorum.voters()) ask(v);
  if (promised_enough()) become_leader();
}

void Proposer::probe() {
  probing_ = true;
  probe_ballot_ = Ballot{next_round(ctx_), ctx_.self()};
  probe_mask_ = ctx_.quorum.bit(ctx_.self());
  if (ctx_.quorum.is_quorum(probe_mask_)) {
    probing_ = false;
    campaign(/*force=*/false, /*exclude_self=*/false);
    return;
  }
  for (NodeId v : ctx_.quorum.voters()) {
    if (v == ctx_.self()) continue;
    Message m;
    m.type = MessageType::probe;
    m.to = v;
    m.ballot = probe_ballot_;
    ctx_.send(std::move(m));
  }
}

void Proposer::on_probe_reply(const Message& msg) {
  if (!probing_ || role_ != Role::follower || msg.ballot != probe_ballot_ || msg.reject) return;
  probe_mask_ |= ctx_.quorum.bit(msg.from);
  if (!ctx_.quorum.is_quorum(probe_mask_)) return;
  probing_ = false;
  campaign(/*force=*/false, /*exclude_self=*/false);
}

void Proposer::retry_campaign() {
  // Still short of an acceptor's compaction point after an election timeout:
  // the peers that hold those slots may be gone. A new ballot asks again, and
  // the promisers reachable now decide what is left to catch up.
  bool stuck_behind = ctx_.log.commit() < must_reach_;
  if (stuck_behind || ctx_.max_round_seen > ballot_.round || ctx_.hard.promised > ballot_) {
    campaign(force_, exclude_self_);
    return;
  }
  for (NodeId v : asked_) {
    auto i = *ctx_.quorum.index_of(v);
    if (!promises_[i].done) send_prepare(v, promises_[i].next);
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
  asked_mask_ |= b;
  asked_.push_back(v);
  send_prepare(v, from_slot_);
}

void Proposer::require_config(const Value& v) {
  std::optional<Membership> m = membership_of(v);
  if (!m) return;
  for (const Membership& known : required_)
    if (known == *m) return;
  ctx_.quorum.pin(*m);  // no room: unnamed voters never promise (safe)
  required_.push_back(*m);
  for (NodeId id : m->voters) ask(id);
}

bool Proposer::promised_enough() const {
  if (ctx_.log.commit() < must_reach_) return false;
  if (!ctx_.quorum.is_quorum(promised_mask_)) return false;
  for (const Membership& m : required_)
    if (!ctx_.quorum.is_quorum(promised_mask_, m)) return false;
  return true;
}

void Proposer::send_prepare(NodeId to, Slot from) {
  Message m;
  m.type = MessageType::prepare;
  m.to = to;
  m.ballot = ballot_;
  m.slot = from;
  m.force = force_;
  ctx_.send(std::move(m));
}

void Proposer::merge_report(const Entry& e, bool chosen) {
  auto [it, fresh] = reported_.try_emplace(e.slot, Reported{e.ballot, e.value, chosen});
  if (fresh) return;
  Reported& r = it->second;
  // The planted bug keeps the first report, whatever the ballots say.
  if (r.chosen || ctx_.planted(PlantedBug::choose_not_highest)) return;
  bool take = chosen || e.ballot > r.ballot;
  if (take) r = Reported{e.ballot, e.value, chosen};
}

void Proposer::on_promise(const Message& msg) {
  if (role_ != Role::candidate || msg.ballot != ballot_) return;
  auto idx = ctx_.quorum.index_of(msg.from);
  if (!idx || promises_[*idx].done) return;
  PeerPromise& peer = promises_[*idx];
  // The acceptor compacted chosen slots this candidate does not hold: its
  // report starts at its log's first slot, and every slot before it is
  // chosen. The candidate leads only once it caught up past them (the
  // promise's commit starts the catch-up), so every slot after its commit
  // index is covered by every promiser's report.
  if (msg.slot > peer.next) {
    must_reach_ = std::max(must_reach_, msg.slot.prev());
    peer.next = msg.slot;
  }
  // Every chunk of a promise for this ballot reports true acceptances, so even
  // a duplicate is safe to merge.
  for (const Entry& e : msg.entries) {
    merge_report(e, e.slot <= msg.commit);
    if (e.value.is_config()) require_config(e.value);
  }
  if (msg.slot != peer.next) return;  // a duplicate or stale chunk
  if (msg.more) {
    peer.next = msg.slot_end;
    send_prepare(msg.from, peer.next);
    return;
  }
  peer.done = true;
  promised_mask_ |= ctx_.quorum.bit(msg.from);
  if (promised_enough()) become_leader();
}

// The value a new leader proposes for slot s: a chosen value if any acceptor
// reported one, else the highest-ballot value reported (Paxos Made Simple
// P2c), else a no-op.
Value Proposer::recovered_value(Slot s) const {
  auto it = reported_.find(s);
  const Record* own = exclude_self_ ? nullptr : ctx_.log.find(s);
  if (it == reported_.end()) return own ? own->value : Value::noop();
  const Reported& r = it->second;
  if (ctx_.planted(PlantedBug::choose_not_highest) && own) return own->value;
  if (r.chosen || !own) return r.value;
  bool own_wins = own->ballot > r.ballot;
  return own_wins ? own->value : r.value;
}

void Proposer::become_leader() {
  SYNOD_ASSERT(ctx_.hard.promised == ballot_, "leading a ballot this replica did not promise");
  role_ = Role::leader;
  transfer_to_ = NodeId{};
  ctx_.leader = ctx_.self();
  ctx_.ticks_since_leader = 0;
  heard_mask_ = 0;
  ticks_in_quorum_window_ = 0;
  ticks_since_heartbeat_ = 0;
  inflight_.clear();
  inflight_tickets_.clear();

  // Pitfall: re-propose every slot up to the highest reported, filling holes
  // with no-ops, before the commit index can move past them.
  Slot last = exclude_self_ ? Slot{} : ctx_.log.last();
  if (!reported_.empty()) last = std::max(last, reported_.rbegin()->first);
  Slot first = ctx_.log.commit().next();
  next_slot_ = first;
  sent_upto_ = ctx_.log.commit();
  for (Slot s = first; s <= last; s = s.next()) assign_slot(recovered_value(s), 0);
  // Nothing to recover: a no-op gives this ballot a slot to commit at once,
  // which the commit index and ReadIndex wait for.
  if (next_slot_ == first) assign_slot(Value::noop(), 0);
  // Every slot a previous leader may have chosen is at or below the last one
  // re-proposed here: once that is committed, the commit index is current.
  reads_.start_term(next_slot_.prev());
  lease_wait_ = ctx_.config.lease_reads ? ctx_.config.election_ticks : 0;
  reported_.clear(), ctx_.quorum.unpin();
  if (exclude_self_) exclude_self_ = false, ctx_.set_voting(true);

  send_admitted();
  send_heartbeats();
  flush();
}

void Proposer::step_down(NodeId hint) {
  if (role_ == Role::follower) return;
  for (Ticket t : inflight_tickets_) ctx_.out.outcomes.push_back({t, Outcome::unknown, {}, 0, {}});
  for (Pending& p : pending_)
    ctx_.out.outcomes.push_back({p.ticket, Outcome::not_leader, {}, 0, hint});
  inflight_.clear();
  inflight_tickets_.clear();
  pending_.clear();
  pending_bytes_ = 0;
  if (pending_config_ && pending_config_->ticket.value != 0)
    ctx_.out.outcomes.push_back({pending_config_->ticket, Outcome::not_leader, {}, 0, hint});
  pending_config_.reset();
  promote_wanted_.clear();
  reads_.abandon(hint);
  transfer_to_ = NodeId{};
  role_ = Role::follower;
  if (ctx_.leader == ctx_.self()) ctx_.leader = hint;
  reported_.clear(), ctx_.quorum.unpin();
}

// ---- Phase 2 -------------------------------------------------------------

ProposeResult Proposer::propose(std::string command) {
  if (role_ != Role::leader) return {Status::not_leader, {}, ctx_.leader};
  if (transfer_to_.valid()) return {Status::not_leader, {}, transfer_to_};
  if (command.size() > ctx_.config.batch_bytes_max) return {Status::too_large, {}, {}};
  if (pending_bytes_ + command.size() > ctx_.config.pending_bytes_max)
    return {Status::overloaded, {}, {}};
  Ticket t{next_ticket_++};
  pending_bytes_ += command.size();
  pending_.push_back(Pending{t, std::move(command)});
  return {Status::ok, t, ctx_.self()};
}

ProposeResult Proposer::change_membership(MembershipOp op, NodeId node) {
  return queue_config(op, node, /*internal=*/false);
}

bool Proposer::config_busy() const {
  if (pending_config_ || ctx_.quorum.latest_from() > ctx_.log.commit().next()) return true;
  for (Slot s = ctx_.log.commit().next(); s < next_slot_; s = s.next())
    if (const Record* r = ctx_.log.find(s); r && r->value.is_config()) return true;
  return false;
}

ProposeResult Proposer::queue_config(MembershipOp op, NodeId node, bool internal) {
  if (role_ != Role::leader) return {Status::not_leader, {}, ctx_.leader};
  if (transfer_to_.valid()) return {Status::not_leader, {}, transfer_to_};
  if (!node.valid()) return {Status::invalid_argument, {}, {}};
  if (config_busy()) return {Status::busy, {}, {}};
  Membership m = ctx_.quorum.latest();
  auto drop = [](std::vector<NodeId>& ids, NodeId id) { std::erase(ids, id); };
  switch (op) {
    case MembershipOp::add_learner:
    case MembershipOp::add_voter:
      if (m.is_member(node)) return {Status::invalid_argument, {}, {}};
      m.learners.push_back(node);
      break;
    case MembershipOp::promote:
      if (!m.is_learner(node)) return {Status::invalid_argument, {}, {}};
      drop(m.learners, node);
      m.voters.push_back(node);
      break;
    case MembershipOp::remove:
      if (!m.is_member(node) || (m.voters.size() == 1 && m.is_voter(node)))
        return {Status::invalid_argument, {}, {}};
      drop(m.voters, node);
      drop(m.learners, node);
      break;
  }
  if (!ctx_.quorum.fits(m)) return {Status::member_capacity, {}, {}};
  Ticket t = internal ? Ticket{} : Ticket{next_ticket_++};
  pending_config_ = PendingConfig{std::move(m), t};
  if (op == MembershipOp::add_voter) promote_wanted_.push_back(node);
  if (op == MembershipOp::remove) std::erase(promote_wanted_, node);
  return {Status::ok, t, ctx_.self()};
}

// A learner added as a voter is promoted once it is close enough behind that
// it can vote without holding back commits.
void Proposer::maybe_promote(NodeId learner, Slot its_commit) {
  if (std::find(promote_wanted_.begin(), promote_wanted_.end(), learner) == promote_wanted_.end())
    return;
  if (!ctx_.quorum.latest().is_learner(learner)) return;  // its addition is not chosen yet
  if (its_commit.value + ctx_.config.promote_lag < ctx_.log.commit().value) return;
  if (queue_config(MembershipOp::promote, learner, /*internal=*/true).ok())
    std::erase(promote_wanted_, learner);
}

// A leader the latest configuration removed hands over to a voter that
// remains (it asks it to campaign at once) and steps down.
void Proposer::leave_if_removed() {
  if (role_ != Role::leader || ctx_.quorum.latest().is_voter(ctx_.self())) return;
  NodeId to{};
  for (NodeId v : ctx_.quorum.latest().voters)
    if (!to.valid() || (heard_mask_ & ctx_.quorum.bit(v))) to = v;
  if (to.valid()) {
    Message m;
    m.type = MessageType::timeout_now;
    m.to = to;
    m.ballot = ballot_;
    ctx_.send(std::move(m));
  }
  step_down(to);
}

Status Proposer::transfer(NodeId to) {
  if (role_ != Role::leader) return Status::not_leader;
  if (to == ctx_.self() || !ctx_.quorum.latest().is_voter(to)) return Status::unknown_peer;
  transfer_to_ = to;
  transfer_ticks_ = 0;
  handed_over_ = false;
  maybe_hand_over();
  return Status::ok;
}

// The target has acknowledged every slot in flight (queued proposals were
// already turned away): it can lead without recovering anything we hold.
void Proposer::maybe_hand_over() {
  if (role_ != Role::leader || !transfer_to_.valid()) return;
  flush();
  VoterMask target = ctx_.quorum.bit(transfer_to_);
  for (const InFlight& f : inflight_)
    if (!(f.acks & target)) return;
  Message m;
  m.type = MessageType::timeout_now;
  m.to = transfer_to_;
  m.ballot = ballot_;
  ctx_.send(std::move(m));
  handed_over_ = true;
}

ProposeResult Proposer::read() {
  if (role_ != Role::leader) return {Status::not_leader, {}, ctx_.leader};
  Ticket t{next_ticket_++};
  reads_.request(t, NodeId{}, 0, /*lease=*/!transfer_to_.valid());
  return {Status::ok, t, ctx_.self()};
}

void Proposer::on_read_index_request(const Message& msg) {
  if (role_ == Role::leader) {
    reads_.request(Ticket{}, msg.from, msg.slot.value, /*lease=*/!transfer_to_.valid());
    return;
  }
  Message r;
  r.type = MessageType::read_index_reply;
  r.to = msg.from;
  r.slot = msg.slot;
  r.reject = true;
  ctx_.send(std::move(r));
}

bool Proposer::can_flush() const {
  return role_ == Role::leader && (((!pending_.empty() || pending_config_ || filling_to_config()) &&
                                    next_slot_ <= window_end()) ||
                                   reads_.round_wanted());
}

void Proposer::flush() {
  if (role_ != Role::leader) return;
  // Reads asked since the last round share the next one, sent now.
  if (reads_.round_wanted()) send_heartbeats();
  Slot first_new = next_slot_;
  // A configuration goes in a slot of its own, ahead of the commands queued.
  if (pending_config_ && next_slot_ <= window_end()) {
    if (pending_config_->ticket.value != 0) inflight_tickets_.push_back(pending_config_->ticket);
    assign_slot(config_value(pending_config_->membership),
                pending_config_->ticket.value != 0 ? 1u : 0u);
    pending_config_.reset();
  }
  while (!pending_.empty() && next_slot_ <= window_end()) {
    std::vector<std::string> batch;
    // At most this many fit; reserving once spares the vector's regrowth
    // (and re-moving every command) as a large batch fills.
    batch.reserve(std::min<std::size_t>(pending_.size(), ctx_.config.batch_count_max));
    std::size_t bytes = 0;
    while (
        !pending_.empty() && batch.size() < ctx_.config.batch_count_max &&
        (batch.empty() || bytes + pending_.front().command.size() <= ctx_.config.batch_bytes_max)) {
      bytes += pending_.front().command.size();
      pending_bytes_ -= pending_.front().command.size();
      batch.push_back(std::move(pending_.front().command));
      inflight_tickets_.push_back(pending_.front().ticket);
      pending_.pop_front();
    }
    auto tickets = static_cast<std::uint32_t>(batch.size());
    assign_slot(Value::of_commands(std::move(batch)), tickets);
  }
  // A configuration chosen governs only alpha slots later: with no commands
  // to fill them, no-ops do, so the change takes effect (and the next one
  // may start) without waiting for traffic.
  while (pending_.empty() && filling_to_config() && next_slot_ <= window_end())
    assign_slot(Value::noop(), 0);
  if (next_slot_ > first_new) send_admitted();
}

// Accepts for every assigned slot the in-flight window now admits.
void Proposer::send_admitted() {
  if (lease_wait_ > 0) return;
  send_accepts(sent_upto_.next(), std::min(window_end(), next_slot_.prev()), 0);
}

void Proposer::assign_slot(const Value& v, std::uint32_t tickets) {
  Slot s = next_slot_;
  next_slot_ = s.next();
  // The leader accepts its own proposal as an acceptor would.
  ctx_.log.accept(s, ballot_, v);
  ctx_.persist(Entry{s, ballot_, v});
  inflight_.push_back(InFlight{0, now_, tickets});
}

Proposer::InFlight* Proposer::inflight(Slot s) {
  Slot first = ctx_.log.commit().next();
  if (s < first || s.value - first.value >= inflight_.size()) return nullptr;
  return &inflight_[s.value - first.value];
}

// Accepts for [lo, hi] to every peer not in skip, consecutive slots in
// messages of at most message_bytes_max.
void Proposer::send_accepts(Slot lo, Slot hi, VoterMask skip) {
  if (hi < lo) return;
  if (skip == 0 && hi > sent_upto_) sent_upto_ = hi;
  Slot s = lo;
  while (s <= hi) {
    Slot next;
    auto entries = ctx_.log.collect(s, hi, ctx_.config.message_bytes_max / 2, &next);
    for (Slot t = s; t < next; t = t.next())
      if (InFlight* f = inflight(t)) f->sent_tick = now_;
    // Every peer gets the same entries: copies for all but the last, which
    // takes them (a copy is a vector and a reference count per value).
    NodeId to[64];
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
  if (role_ != Role::leader || msg.ballot != ballot_) return;
  // Pitfall: only acceptances in this very ballot count toward a quorum.
  VoterMask who = ctx_.quorum.bit(msg.from);
  heard_mask_ |= who;
  ack(msg.slot, msg.slot_end.prev(), who);
  if (msg.from == transfer_to_ && !handed_over_) maybe_hand_over();
}

void Proposer::on_heartbeat_ack(const Message& msg) {
  if (role_ != Role::leader || msg.ballot != ballot_) return;
  heard_mask_ |= ctx_.quorum.bit(msg.from);
  if (msg.slot.value != 0) reads_.on_ack(msg.from, msg.slot.value);
  if (!promote_wanted_.empty()) maybe_promote(msg.from, msg.commit);
}

void Proposer::on_durable(const Entry& e) {
  if (role_ != Role::leader || e.ballot != ballot_) return;
  ack(e.slot, e.slot, ctx_.quorum.bit(ctx_.self()));
}

void Proposer::ack(Slot lo, Slot hi, VoterMask who) {
  for (Slot s = lo; s <= hi; s = s.next())
    if (InFlight* f = inflight(s)) f->acks |= who;
  commit_chosen_prefix();
}

void Proposer::commit_chosen_prefix() {
  Slot commit = ctx_.log.commit();
  // Each slot needs a majority of the configuration governing it.
  while (!inflight_.empty() && ctx_.quorum.is_quorum_at(commit.next(), inflight_.front().acks)) {
    commit = commit.next();
    for (std::uint32_t i = 0; i < inflight_.front().tickets; ++i) {
      ctx_.out.outcomes.push_back({inflight_tickets_.front(), Outcome::committed, commit, i, {}});
      inflight_tickets_.pop_front();
    }
    inflight_.pop_front();
  }
  if (commit == ctx_.log.commit()) return;
  ctx_.set_commit(commit);
  reads_.on_commit();
  leave_if_removed();
  if (role_ != Role::leader) return;
  send_admitted();  // the window moved
}

// ---- Timers --------------------------------------------------------------

void Proposer::send_heartbeats() {
  ticks_since_heartbeat_ = 0;
  Slot round{reads_.next_round()};
  for (NodeId v : ctx_.quorum.members()) {
    if (v == ctx_.self()) continue;
    Message m;
    m.type = MessageType::heartbeat;
    m.to = v;
    m.ballot = ballot_;
    m.slot = round;
    m.commit = ctx_.log.commit();
    ctx_.send(std::move(m));
  }
}

// Accepts lost on the way are sent again to the peers that have not answered.
void Proposer::resend_unacked() {
  if (lease_wait_ > 0) return;
  Slot s = ctx_.log.commit().next();
  std::uint64_t stale = 2ull * ctx_.config.heartbeat_ticks;
  VoterMask all = 0;
  for (NodeId v : ctx_.quorum.members()) all |= ctx_.quorum.bit(v);
  for (const InFlight& f : inflight_) {
    if (s > sent_upto_) break;
    if (now_ - f.sent_tick >= stale) {
      VoterMask skip = f.acks | ctx_.quorum.bit(ctx_.self());
      if ((skip & all) != all) send_accepts(s, s, skip);
    }
    s = s.next();
  }
}

void Proposer::tick() {
  ++now_;
  reads_.set_now(now_);
  if (role_ == Role::candidate) return;
  if (role_ != Role::leader) return;
  ctx_.ticks_since_leader = 0;
  // Lease reads: an old leader may still answer reads from its lease for an
  // election timeout; nothing is chosen in this ballot before it ran out.
  if (lease_wait_ > 0 && --lease_wait_ == 0) send_admitted();
  if (++ticks_since_heartbeat_ >= ctx_.config.heartbeat_ticks) {
    send_heartbeats();
    resend_unacked();
    if (transfer_to_.valid()) handed_over_ = false, maybe_hand_over();  // ask again
  }
  // A transfer the target did not complete within an election timeout is
  // abandoned: this leader takes proposals again.
  if (transfer_to_.valid() && ++transfer_ticks_ >= ctx_.config.election_ticks)
    transfer_to_ = NodeId{};
  // Check-quorum: a leader that has not heard from a majority within an
  // election timeout steps down rather than block proposals forever.
  if (++ticks_in_quorum_window_ >= ctx_.config.election_ticks) {
    VoterMask heard = heard_mask_ | ctx_.quorum.bit(ctx_.self());
    heard_mask_ = 0;
    ticks_in_quorum_window_ = 0;
    if (!ctx_.quorum.is_quorum(heard)) step_down(NodeId{});
  }
}

}  // namespace synod::detail
