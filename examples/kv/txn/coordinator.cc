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
  if (const auto* b = std::get_if<BeginEntry>(&entry)) {
    const TxnId& t = b->plan.id;
    // A duplicate Begin, or one chosen after a Decide for the same txn (an
    // inquiry's abort logged while it was in flight): the first record
    // stands and nothing restarts.
    if (records_.contains(t)) return fx;
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
  if (dec == nullptr) return fx;
  pending_.erase(dec->txn);        // decided before its Begin: the decision stands
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
  if (d.acked.size() == shards.size() && !d.has_client) drives_.erase(m.txn);
  return fx;
}

Effects Coordinator::on_inquiry(const InquiryMsg& m) {
  Effects fx;
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
  return fx;
}

Effects Coordinator::become_leader() {
  Effects fx;
  leader_ = true;
  drives_.clear();
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

std::string Coordinator::save() const {
  // Per record its Begin (a plan with no parts for an inquiry's abort of a
  // txn never begun) and its Decide, or an empty string while undecided.
  std::vector<std::string> items;
  for (const auto& [t, r] : records_) {
    TxnPlan plan = r.plan;
    plan.id = t;
    items.push_back(encode_entry(BeginEntry{std::move(plan)}));
    items.push_back(r.decided ? encode_entry(DecideEntry{t, r.commit, r.reason, r.shards})
                              : std::string());
  }
  return encode_list(items);
}

bool Coordinator::load(std::string_view bytes) {
  auto items = decode_list(bytes);
  if (!items || items->size() % 2 != 0) return false;
  std::map<TxnId, Record> records;
  for (std::size_t i = 0; i < items->size(); i += 2) {
    std::optional<Entry> b = decode_entry((*items)[i]);
    const auto* begin = b ? std::get_if<BeginEntry>(&*b) : nullptr;
    if (begin == nullptr) return false;
    Record& r = records[begin->plan.id];
    r.plan = begin->plan;
    r.shards = shards_of(r.plan);
    if ((*items)[i + 1].empty()) continue;
    std::optional<Entry> d = decode_entry((*items)[i + 1]);
    const auto* decide = d ? std::get_if<DecideEntry>(&*d) : nullptr;
    if (decide == nullptr || !(decide->txn == begin->plan.id)) return false;
    r.decided = true;
    r.commit = decide->commit;
    r.reason = decide->reason;
    if (r.plan.parts.empty()) r.shards = decide->shards;
  }
  records_ = std::move(records);
  drives_.clear();
  pending_.clear();
  leader_ = false;
  return true;
}

}  // namespace synod::kv::txn
