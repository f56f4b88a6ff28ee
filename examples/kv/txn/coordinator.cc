#include "coordinator.h"

#include "txn_wire.h"

namespace synod::kv::txn {

Coordinator::Coordinator(ShardId self, CoordinatorOptions options) : self_(self), opt_(options) {}

Effects Coordinator::start(TxnPlan plan) {
  Effects fx;
  if (!leader_) return fx;  // the host sends EXEC to leaders only
  clients_.insert(plan.id);
  fx.propose.emplace_back(std::in_place_type<BeginEntry>, BeginEntry{std::move(plan)});
  return fx;
}

void Coordinator::send_prepares(const Record& r, const Drive& d, Effects* fx) const {
  for (const auto& [shard, part] : r.plan.parts) {
    if (d.voted_yes.contains(shard)) continue;
    fx->send.push_back({shard, PrepareMsg{r.plan.id, part}});
  }
}

void Coordinator::send_decisions(const Record& r, const Drive& d, Effects* fx) const {
  for (const auto& [shard, part] : r.plan.parts) {
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
    if (records_.contains(t)) return fx;  // a duplicate Begin: the first stands
    Record& r = records_[t];
    r.plan = b->plan;
    if (!leader_) return fx;
    Drive& d = drives_[t];
    d.started_tick = d.last_send_tick = now_;
    d.has_client = clients_.erase(t) > 0;
    send_prepares(r, d, &fx);
    return fx;
  }
  const auto* dec = std::get_if<DecideEntry>(&entry);
  if (dec == nullptr) return fx;
  Record& r = records_[dec->txn];  // an inquiry's abort may be about a txn never begun
  if (r.decided) return fx;        // the first decision is the only truth
  r.decided = true;
  r.commit = dec->commit;
  r.reason = dec->reason;
  if (r.plan.parts.empty()) r.plan.id = dec->txn;
  if (!leader_) return fx;
  Drive& d = drives_[dec->txn];
  d.last_send_tick = now_;
  send_decisions(r, d, &fx);
  if (!r.commit && d.has_client) {
    // Nothing is applied anywhere after an abort: the client need not wait.
    fx.done.push_back(outcome_of(r, d));
    d.has_client = false;
  }
  if (r.commit && d.has_client && d.predicted.size() == r.plan.parts.size()) {
    // Decided, and every part's replies known from its vote: the commits
    // that follow cannot change them (their keys stay locked till then).
    ClientOutcome o = outcome_of(r, d);
    o.results = d.predicted;
    fx.done.push_back(std::move(o));
    d.has_client = false;
  }
  return fx;
}

Effects Coordinator::propose_decision(const TxnId& t, bool commit, AbortReason reason) {
  Effects fx;
  Drive& d = drives_[t];
  if (d.decide_proposed) return fx;
  d.decide_proposed = true;
  fx.propose.emplace_back(std::in_place_type<DecideEntry>, DecideEntry{t, commit, reason});
  return fx;
}

Effects Coordinator::on_vote(const VoteMsg& m) {
  auto r = records_.find(m.txn);
  if (r == records_.end() || r->second.decided) return {};
  if (!m.yes) return propose_decision(m.txn, false, m.reason);
  Drive& d = drives_[m.txn];
  auto part = r->second.plan.parts.find(m.from);
  if (part == r->second.plan.parts.end()) return {};
  d.voted_yes.insert(m.from);
  if (m.results.size() == part->second.commands.size()) d.predicted[m.from] = m.results;
  if (d.voted_yes.size() == r->second.plan.parts.size())
    return propose_decision(m.txn, true, AbortReason::none);
  return {};
}

Effects Coordinator::on_ack(const AckMsg& m) {
  Effects fx;
  auto r = records_.find(m.txn);
  if (r == records_.end() || !r->second.decided) return fx;
  if (!r->second.plan.parts.contains(m.from)) return fx;
  Drive& d = drives_[m.txn];
  d.acked.emplace(m.from, m.results);
  if (r->second.commit && d.has_client && d.acked.size() == r->second.plan.parts.size()) {
    fx.done.push_back(outcome_of(r->second, d));
    d.has_client = false;
  }
  if (d.acked.size() == r->second.plan.parts.size() && !d.has_client) drives_.erase(m.txn);
  return fx;
}

Effects Coordinator::on_inquiry(const InquiryMsg& m) {
  Effects fx;
  auto r = records_.find(m.txn);
  if (r != records_.end() && r->second.decided) {
    fx.send.push_back({m.from, DecisionMsg{m.txn, r->second.commit}});
    return fx;
  }
  // Still collecting its votes: the timeout decides in time.
  auto d = drives_.find(m.txn);
  if (r != records_.end() && d != drives_.end() &&
      now_ - d->second.started_tick < opt_.vote_timeout_ticks)
    return fx;
  return propose_decision(m.txn, false,
                          r == records_.end() ? AbortReason::unknown_txn : AbortReason::in_doubt);
}

Effects Coordinator::tick() {
  ++now_;
  Effects fx;
  for (auto& [t, d] : drives_) {
    auto r = records_.find(t);
    if (r == records_.end()) continue;
    if (!r->second.decided && now_ - d.started_tick >= opt_.vote_timeout_ticks) {
      fx.append(propose_decision(t, false, AbortReason::timeout));
      continue;
    }
    if (now_ - d.last_send_tick < opt_.resend_ticks) continue;
    d.last_send_tick = now_;
    if (r->second.decided)
      send_decisions(r->second, d, &fx);
    else
      send_prepares(r->second, d, &fx);
  }
  return fx;
}

Effects Coordinator::become_leader() {
  Effects fx;
  leader_ = true;
  drives_.clear();
  clients_.clear();
  for (const auto& [t, r] : records_) {
    Drive& d = drives_[t];
    d.started_tick = d.last_send_tick = now_;
    if (r.decided)
      send_decisions(r, d, &fx);
    else
      fx.append(propose_decision(t, false, AbortReason::in_doubt));
  }
  return fx;
}

Effects Coordinator::lose_leadership() {
  Effects fx;
  leader_ = false;
  for (auto& [t, d] : drives_) {
    if (!d.has_client) continue;
    ClientOutcome o;
    o.txn = t;
    o.kind = ClientOutcome::Kind::unknown;
    fx.done.push_back(std::move(o));
    d.has_client = false;
  }
  for (const TxnId& t : clients_) {
    ClientOutcome o;
    o.txn = t;
    o.kind = ClientOutcome::Kind::unknown;
    fx.done.push_back(std::move(o));
  }
  clients_.clear();
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
    items.push_back(r.decided ? encode_entry(DecideEntry{t, r.commit, r.reason}) : std::string());
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
    if ((*items)[i + 1].empty()) continue;
    std::optional<Entry> d = decode_entry((*items)[i + 1]);
    const auto* decide = d ? std::get_if<DecideEntry>(&*d) : nullptr;
    if (decide == nullptr || !(decide->txn == begin->plan.id)) return false;
    r.decided = true;
    r.commit = decide->commit;
    r.reason = decide->reason;
  }
  records_ = std::move(records);
  drives_.clear();
  clients_.clear();
  leader_ = false;
  return true;
}

}  // namespace synod::kv::txn
