#include "coordinator.h"

#include <algorithm>

#include "txn_wire.h"

namespace synod::kv::txn {

Coordinator::Coordinator(ShardId self, CoordinatorOptions options) : self_(self), opt_(options) {}

Effects Coordinator::start(TxnPlan plan) {
  Effects fx;
  if (!leader_) return fx;  // the host sends EXEC to leaders only
  const TxnId t = plan.id;
  if (records_.contains(t) || pending_.contains(t)) return fx;  // ids are unique
  Drive& d = drives_[t];
  d.started_tick = d.last_send_tick = now_;
  d.has_client = true;
  // The prepares go with the Begin, not after it is applied: the two log
  // rounds (Begin with Prepare, then Decide) overlap (docs/kv.md, "Two
  // rounds"). A participant prepared for a Begin that is never chosen
  // inquires and hears abort.
  send_prepares(plan, d, &fx);
  fx.propose.emplace_back(std::in_place_type<BeginEntry>, BeginEntry{plan});
  pending_.emplace(t, std::move(plan));
  return fx;
}

const TxnPlan* Coordinator::plan_of(const TxnId& t) const {
  if (auto r = records_.find(t); r != records_.end()) return &r->second.plan;
  if (auto p = pending_.find(t); p != pending_.end()) return &p->second;
  return nullptr;
}

void Coordinator::send_prepares(const TxnPlan& plan, const Drive& d, Effects* fx) const {
  const ShardList shards = shards_of(plan);
  for (const auto& [shard, part] : plan.parts) {
    if (d.voted_yes.contains(shard)) continue;
    fx->send.push_back({shard, PrepareMsg{plan.id, part, shards}});
  }
}

void Coordinator::send_decisions(const Record& r, const Drive& d, Effects* fx) const {
  for (ShardId shard : r.shards) {
    if (d.acked.contains(shard)) continue;
    fx->send.push_back({shard, DecisionMsg{r.plan.id, r.commit}});
  }
}

ClientOutcome Coordinator::outcome_of(const Record& r, const Drive& d) const {
  ClientOutcome o;
  o.txn = r.plan.id;
  o.kind = r.commit ? ClientOutcome::Kind::committed : ClientOutcome::Kind::aborted;
  o.reason = r.reason;
  if (r.commit) o.results = d.acked;
  return o;
}

Effects Coordinator::apply(const Entry& entry) {
  Effects fx;
  if (const auto* f = std::get_if<ForgetEntry>(&entry)) return apply_forget(*f);
  if (const auto* b = std::get_if<BeginEntry>(&entry)) {
    const TxnId& t = b->plan.id;
    if (t.coordinator != self_) return fx;  // not this group's: a host's mistake
    // A duplicate Begin, or one chosen after a Decide for the same txn (an
    // inquiry's abort logged while it was in flight): the first record
    // stands and nothing restarts.
    if (records_.contains(t)) return fx;
    if (gone(t)) {
      // Forgotten, or an old term's Begin chosen after the floor passed it:
      // never begun (its inquirers hear abort). Its client, if it were
      // this leader's, hears abort too.
      pending_.erase(t);
      auto d = drives_.find(t);
      if (leader_ && d != drives_.end() && d->second.has_client)
        fx.done.push_back(
            ClientOutcome{t, ClientOutcome::Kind::aborted, AbortReason::in_doubt, {}});
      if (d != drives_.end()) drives_.erase(d);
      return fx;
    }
    Record& r = records_[t];
    r.plan = b->plan;
    r.shards = shards_of(r.plan);
    const bool started_here = pending_.erase(t) > 0;
    if (!leader_) return fx;
    if (!started_here) {
      // Another term's Begin: drive it as if it had just started here.
      Drive& d = drives_[t];
      d.started_tick = d.last_send_tick = now_;
      send_prepares(r.plan, d, &fx);
      return fx;
    }
    // The prepares went out with the proposal; votes may be in already.
    return decide_if_voted(t);
  }
  const auto* dec = std::get_if<DecideEntry>(&entry);
  if (dec == nullptr || dec->txn.coordinator != self_) return fx;
  pending_.erase(dec->txn);  // decided before its Begin: the decision stands
  // Below the floor with no record: a late Decide of a forgotten txn, or an
  // inquiry's abort of one never begun; either way nothing to record.
  if (gone(dec->txn)) return fx;
  Record& r = records_[dec->txn];  // an inquiry's abort may be about a txn never begun
  if (r.decided) return fx;        // the first decision is the only truth
  r.decided = true;
  r.commit = dec->commit;
  r.reason = dec->reason;
  if (r.plan.parts.empty()) {
    r.plan.id = dec->txn;
    r.shards = dec->shards;
  }
  if (!leader_) return fx;
  Drive& d = drives_[dec->txn];
  d.last_send_tick = now_;
  send_decisions(r, d, &fx);
  if (!r.commit && d.has_client) {
    // Nothing is applied anywhere after an abort: the client need not wait.
    fx.done.push_back(outcome_of(r, d));
    d.has_client = false;
  }
  if (r.commit && d.has_client && !r.plan.parts.empty() &&
      d.predicted.size() == r.plan.parts.size()) {
    // Decided, and every part's replies known from its vote: the commits
    // that follow cannot change them (their keys stay locked till then).
    ClientOutcome o = outcome_of(r, d);
    o.results = d.predicted;
    fx.done.push_back(std::move(o));
    d.has_client = false;
  }
  return fx;
}

Effects Coordinator::propose_decision(const TxnId& t, bool commit, AbortReason reason,
                                      ShardList shards) {
  Effects fx;
  // The rule that keeps two rounds safe and simple: no decision while this
  // leader's own Begin for the txn is in flight (docs/kv.md, "Two rounds").
  if (pending_.contains(t)) return fx;
  Drive& d = drives_[t];
  if (d.decide_proposed) return fx;
  d.decide_proposed = true;
  fx.propose.emplace_back(std::in_place_type<DecideEntry>,
                          DecideEntry{t, commit, reason, std::move(shards)});
  return fx;
}

Effects Coordinator::decide_if_voted(const TxnId& t) {
  auto r = records_.find(t);
  auto d = drives_.find(t);
  if (r == records_.end() || r->second.decided || d == drives_.end()) return {};
  if (d->second.no_vote != AbortReason::none)
    return propose_decision(t, false, d->second.no_vote, r->second.shards);
  if (d->second.voted_yes.size() == r->second.plan.parts.size())
    return propose_decision(t, true, AbortReason::none, r->second.shards);
  return {};
}

Effects Coordinator::on_vote(const VoteMsg& m) {
  if (m.txn.coordinator != self_) return {};
  auto r = records_.find(m.txn);
  if (r != records_.end() && r->second.decided) return {};
  const TxnPlan* plan = plan_of(m.txn);
  if (plan == nullptr) return {};  // not begun, nor started here: nothing to decide
  auto part = plan->parts.find(m.from);
  if (part == plan->parts.end()) return {};
  Drive& d = drives_[m.txn];
  if (!m.yes) {
    if (d.no_vote == AbortReason::none) d.no_vote = m.reason;
  } else {
    d.voted_yes.insert(m.from);
    if (m.results.size() == part->second.commands.size()) d.predicted[m.from] = m.results;
  }
  return decide_if_voted(m.txn);
}

Effects Coordinator::on_ack(const AckMsg& m) {
  Effects fx;
  if (m.txn.coordinator != self_) return fx;
  auto r = records_.find(m.txn);
  if (r == records_.end() || !r->second.decided) return fx;
  const ShardList& shards = r->second.shards;
  if (std::find(shards.begin(), shards.end(), m.from) == shards.end()) return fx;
  Drive& d = drives_[m.txn];
  d.acked.emplace(m.from, m.results);
  if (r->second.commit && d.has_client && d.acked.size() == shards.size()) {
    fx.done.push_back(outcome_of(r->second, d));
    d.has_client = false;
  }
  // Nothing more to send for it; the next ForgetEntry may name it.
  if (d.acked.size() == shards.size()) d.all_acked = true;
  return fx;
}

Effects Coordinator::on_inquiry(const InquiryMsg& m) {
  Effects fx;
  if (m.txn.coordinator != self_) return fx;
  if (gone(m.txn)) {
    // Forgotten (every participant applied its decision, so this inquiry is
    // stale and the answer changes nothing) or never begun (and never will
    // be: a Begin below the floor is void): abort, without a log entry.
    // The floor first: a participant that logs it before this abort keeps
    // no finished record of the txn; one that logs it after drops it then.
    if (leader_) {
      owe_floor(m.from, m.txn.seq + 1);
      fx.send.push_back({m.from, FloorMsg{self_, floor_}});
    }
    fx.send.push_back({m.from, DecisionMsg{m.txn, false}});
    return fx;
  }
  auto r = records_.find(m.txn);
  if (r != records_.end() && r->second.decided) {
    fx.send.push_back({m.from, DecisionMsg{m.txn, r->second.commit}});
    return fx;
  }
  // Its Begin in flight here: it is applied (then decided in time) or this
  // leader loses the shard (its successor aborts it).
  if (pending_.contains(m.txn)) return fx;
  // Still collecting its votes: the timeout decides in time.
  auto d = drives_.find(m.txn);
  if (r != records_.end() && d != drives_.end() &&
      now_ - d->second.started_tick < opt_.vote_timeout_ticks)
    return fx;
  // Never begun in this log (its Begin lost with an old leader): the
  // inquiry's shard list names everyone the abort must reach.
  if (r == records_.end())
    return propose_decision(m.txn, false, AbortReason::unknown_txn,
                            opt_.planted_abort_tells_inquirer_only ? ShardList{m.from} : m.shards);
  return propose_decision(m.txn, false, AbortReason::in_doubt, r->second.shards);
}

Effects Coordinator::tick() {
  ++now_;
  Effects fx;
  for (auto& [t, d] : drives_) {
    auto r = records_.find(t);
    const TxnPlan* plan = plan_of(t);
    if (plan == nullptr) continue;
    const bool begun = r != records_.end();
    if (d.all_acked) continue;
    if (begun && !r->second.decided && now_ - d.started_tick >= opt_.vote_timeout_ticks) {
      fx.append(propose_decision(t, false, AbortReason::timeout, r->second.shards));
      continue;
    }
    if (now_ - d.last_send_tick < opt_.resend_ticks) continue;
    d.last_send_tick = now_;
    if (begun && r->second.decided)
      send_decisions(r->second, d, &fx);
    else
      send_prepares(*plan, d, &fx);
  }
  if (!leader_) return fx;
  // Not urgent (a shard that has not applied the floor only holds records
  // longer): resent as seldom as ForgetEntries are proposed.
  if (!floor_owed_.empty() && now_ - floor_sent_tick_ >= opt_.forget_ticks) {
    floor_sent_tick_ = now_;
    send_floor(&fx);
  }
  fx.append(propose_forget());
  return fx;
}

Effects Coordinator::become_leader() {
  Effects fx;
  leader_ = true;
  drives_.clear();
  forget_in_flight_ = false;
  // Which shards applied the floor is not replicated: tell them all again.
  floor_owed_.clear();
  const std::uint64_t owed = forgotten_above_.empty() ? floor_ : forgotten_above_.rbegin()->seq + 1;
  if (owed > 0) {
    for (ShardId s : floor_shards_) owe_floor(s, owed);
    for (ShardId s : opt_.all_shards) owe_floor(s, owed);
  }
  floor_sent_tick_ = now_;
  send_floor(&fx);
  // Begins this replica proposed while it led before and never saw applied:
  // their prepares may hold locks, so abort them now rather than wait for
  // the participants' inquiries (a Begin chosen later changes nothing).
  std::map<TxnId, TxnPlan> lost;
  lost.swap(pending_);
  for (const auto& [t, r] : records_) {
    Drive& d = drives_[t];
    d.started_tick = d.last_send_tick = now_;
    if (r.decided)
      send_decisions(r, d, &fx);
    else
      fx.append(propose_decision(t, false, AbortReason::in_doubt, r.shards));
  }
  for (const auto& [t, plan] : lost) {
    if (records_.contains(t)) continue;
    Drive& d = drives_[t];
    d.started_tick = d.last_send_tick = now_;
    fx.append(propose_decision(t, false, AbortReason::in_doubt, shards_of(plan)));
  }
  return fx;
}

Effects Coordinator::lose_leadership() {
  Effects fx;
  leader_ = false;
  // Every client's drive, its Begin applied or still in flight.
  for (auto& [t, d] : drives_) {
    if (!d.has_client) continue;
    ClientOutcome o;
    o.txn = t;
    o.kind = ClientOutcome::Kind::unknown;
    fx.done.push_back(std::move(o));
    d.has_client = false;
  }
  // pending_ stays: applied Begins (or Decides) remove theirs, and the next
  // become_leader() aborts the rest.
  drives_.clear();
  floor_owed_.clear();
  forget_in_flight_ = false;
  return fx;
}

std::optional<bool> Coordinator::decision(const TxnId& t) const {
  auto r = records_.find(t);
  if (r == records_.end() || !r->second.decided) return std::nullopt;
  return r->second.commit;
}

std::size_t Coordinator::undecided() const {
  std::size_t n = 0;
  for (const auto& [t, r] : records_) n += r.decided ? 0 : 1;
  return n;
}

}  // namespace synod::kv::txn
