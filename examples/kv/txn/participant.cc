#include "participant.h"

#include <algorithm>

#include "txn_wire.h"

namespace synod::kv::txn {
namespace {

// The keys a command touches (reads too). Every allowed_in_txn command
// names keys only: every argument of MGET, DEL, EXISTS; every other one of
// MSET and MSETNX; the first of the rest. DBSIZE touches none (it counts
// the shard as it is at commit).
template <typename Fn>
void for_each_key(const Request& r, Fn fn) {
  switch (r.op) {
    case Op::dbsize:
      return;
    case Op::mget:
    case Op::del:
    case Op::exists:
      for (const std::string& k : r.args) fn(k);
      return;
    case Op::mset:
    case Op::msetnx:
      for (std::size_t i = 0; i < r.args.size(); i += 2) fn(r.args[i]);
      return;
    default:
      if (!r.args.empty()) fn(r.args[0]);
      return;
  }
}

template <typename Fn>
void for_each_part_key(const ShardPart& part, Fn fn) {
  for (const Request& r : part.commands) for_each_key(r, fn);
  for (const WatchedKey& w : part.checks) fn(w.key);
}

}  // namespace

Participant::Participant(ShardId self, KvStore& store, ParticipantOptions options)
    : self_(self), store_(store), opt_(options) {}

AckMsg Participant::ack(const TxnId& t, const Finished& f) const {
  return AckMsg{t, self_, f.committed, f.committed ? f.results : std::vector<Reply>{}};
}

Effects Participant::apply(const Entry& entry) {
  if (const auto* p = std::get_if<PrepareEntry>(&entry)) {
    proposed_.erase(p->txn);
    return prepare(*p);
  }
  if (const auto* c = std::get_if<CommitEntry>(&entry)) {
    proposed_.erase(c->txn);
    return finish(c->txn, true);
  }
  if (const auto* a = std::get_if<AbortEntry>(&entry)) {
    proposed_.erase(a->txn);
    return finish(a->txn, false);
  }
  if (const auto* f = std::get_if<FloorEntry>(&entry)) return apply_floor(*f);
  return {};
}

std::uint64_t Participant::floor_of(ShardId coordinator) const {
  auto f = floors_.find(coordinator);
  return f == floors_.end() ? 0 : f->second;
}

bool Participant::forgotten(const TxnId& t) const {
  return t.seq < floor_of(t.coordinator) && !prepared_.contains(t) && !finished_.contains(t);
}

Effects Participant::apply_floor(const FloorEntry& e) {
  Effects fx;
  std::uint64_t& floor = floors_[e.coordinator];
  floor = std::max(floor, e.floor);
  if (auto p = floor_proposed_.find(e.coordinator);
      p != floor_proposed_.end() && p->second <= floor)
    floor_proposed_.erase(p);
  // Every finished record of that coordinator below the floor: its decision
  // is applied here and acked (the coordinator forgot it only then). An
  // unconfirmed no vote stays until its decision is logged (finish()).
  auto it = finished_.lower_bound(TxnId{e.coordinator, 0});
  while (it != finished_.end() && it->first.coordinator == e.coordinator && it->first.seq < floor) {
    if (unconfirmed_.contains(it->first))
      ++it;
    else
      it = finished_.erase(it);
  }
  fx.send.push_back({e.coordinator, FloorAckMsg{self_, floor}});
  return fx;
}

Effects Participant::on_floor(const FloorMsg& m) {
  Effects fx;
  const std::uint64_t have = floor_of(m.coordinator);
  if (m.floor <= have) {
    fx.send.push_back({m.coordinator, FloorAckMsg{self_, have}});
    return fx;
  }
  std::uint64_t& asked = floor_proposed_[m.coordinator];
  if (asked >= m.floor) return fx;  // an entry for it is on its way
  asked = m.floor;
  fx.propose.push_back(FloorEntry{m.coordinator, m.floor});
  return fx;
}

Effects Participant::prepare(const PrepareEntry& e) {
  Effects fx;
  const Envelope vote_to{e.txn.coordinator, {}};
  if (auto f = finished_.find(e.txn); f != finished_.end()) {
    // Decided here already (an abort that overtook the prepare, or a
    // duplicate): the same vote again, nothing locked.
    fx.send.push_back(
        {e.txn.coordinator, VoteMsg{e.txn, self_, f->second.committed,
                                    f->second.committed ? AbortReason::none : AbortReason::in_doubt,
                                    f->second.results}});
    return fx;
  }
  if (auto p = prepared_.find(e.txn); p != prepared_.end()) {
    fx.send.push_back(
        {e.txn.coordinator, VoteMsg{e.txn, self_, true, AbortReason::none, p->second.results}});
    return fx;
  }
  if (forgotten(e.txn) && !opt_.planted_prepare_below_floor) {
    // A late prepare of a forgotten txn (or of one never begun): no, and
    // nothing recorded; the same answer every time (docs/kv.md).
    fx.send.push_back({e.txn.coordinator, VoteMsg{e.txn, self_, false, AbortReason::in_doubt, {}}});
    return fx;
  }
  AbortReason no = AbortReason::none;
  for_each_part_key(e.part, [&](const std::string& k) {
    auto it = locks_.find(k);
    if (no == AbortReason::none && it != locks_.end() && it->second != e.txn)
      no = AbortReason::locked;
  });
  if (no == AbortReason::none) {
    for (const WatchedKey& w : e.part.checks)
      if (store_.version_of(w.key) != w.version) no = AbortReason::watch;
  }
  if (no != AbortReason::none) {
    // A no vote decides the outcome: abort. Nothing was locked.
    finished_[e.txn] = Finished{false, {}};
    unconfirmed_[e.txn] = Unconfirmed{e.shards, now_};
    fx.send.push_back({e.txn.coordinator, VoteMsg{e.txn, self_, false, no, {}}});
    return fx;
  }
  for_each_part_key(e.part, [&](const std::string& k) { locks_.emplace(k, e.txn); });
  Prepared& p = prepared_[e.txn];
  p.part = e.part;
  p.shards = e.shards;
  p.since_tick = now_;
  p.results = predict(p.part);
  if (opt_.planted_apply_before_decision) {
    for (const Request& r : p.part.commands) store_.execute(r);
  }
  fx.send.push_back({e.txn.coordinator, VoteMsg{e.txn, self_, true, AbortReason::none, p.results}});
  return fx;
}

std::vector<Reply> Participant::predict(const ShardPart& part) const {
  KvStore scratch;
  for_each_part_key(part, [&](const std::string& k) {
    if (const std::string* v = store_.find(k)) scratch.execute(Request{Op::set, {k, *v}, {}});
  });
  const std::size_t copied = scratch.key_count();
  std::vector<Reply> results;
  results.reserve(part.commands.size());
  for (const Request& r : part.commands) {
    if (r.op == Op::dbsize) {
      // The shard's count: its other keys as they are now, these as changed.
      auto n = static_cast<std::int64_t>(store_.key_count() - copied + scratch.key_count());
      results.push_back(Reply::integer(n));
    } else {
      results.push_back(scratch.execute(r));
    }
  }
  return results;
}

void Participant::unlock(const TxnId& t, const ShardPart& part) {
  for_each_part_key(part, [&](const std::string& k) {
    auto it = locks_.find(k);
    if (it != locks_.end() && it->second == t) locks_.erase(it);
  });
}

Effects Participant::finish(const TxnId& t, bool commit) {
  Effects fx;
  if (auto f = finished_.find(t); f != finished_.end()) {
    // The first outcome stands; the ack says which it was. A no vote's
    // abort is now confirmed by the decision this entry logged.
    unconfirmed_.erase(t);
    fx.send.push_back({t.coordinator, ack(t, f->second)});
    if (t.seq < floor_of(t.coordinator)) finished_.erase(f);  // the floor passed it
    return fx;
  }
  if (forgotten(t)) {
    // A late decision of a forgotten txn: applied long ago, or nothing to.
    fx.send.push_back({t.coordinator, AckMsg{t, self_, commit, {}}});
    return fx;
  }
  Finished done{commit, {}};
  if (auto p = prepared_.find(t); p != prepared_.end()) {
    if (commit && !opt_.planted_apply_before_decision) {
      for (const Request& r : p->second.part.commands) done.results.push_back(store_.execute(r));
    }
    unlock(t, p->second.part);
    prepared_.erase(p);
  }
  fx.send.push_back({t.coordinator, ack(t, done)});
  // Below the floor (a prepared txn its coordinator answered abort for
  // without a record): nothing to keep, as for every finished one there.
  if (t.seq >= floor_of(t.coordinator)) finished_.emplace(t, std::move(done));
  return fx;
}

Effects Participant::on_prepare(const PrepareMsg& m) {
  Effects fx;
  if (finished_.contains(m.txn) || prepared_.contains(m.txn) ||
      (forgotten(m.txn) && !opt_.planted_prepare_below_floor)) {
    // Answered from the replicated state: no new entry.
    return prepare(PrepareEntry{m.txn, m.part, m.shards});
  }
  if (proposed_.insert(m.txn).second) fx.propose.push_back(PrepareEntry{m.txn, m.part, m.shards});
  return fx;
}

Effects Participant::on_decision(const DecisionMsg& m) {
  Effects fx;
  const bool unconfirmed = unconfirmed_.contains(m.txn);
  if (auto f = finished_.find(m.txn); f != finished_.end() && !unconfirmed) {
    fx.send.push_back({m.txn.coordinator, ack(m.txn, f->second)});
    return fx;
  }
  if (forgotten(m.txn)) return finish(m.txn, m.commit);  // acked; no entry
  if (!proposed_.insert(m.txn).second) return fx;
  // An unconfirmed no vote logs the decision (an abort: a no vote makes a
  // commit impossible) before it acks.
  if (m.commit)
    fx.propose.push_back(CommitEntry{m.txn});
  else
    fx.propose.push_back(AbortEntry{m.txn});
  return fx;
}

Effects Participant::tick() {
  ++now_;
  Effects fx;
  for (auto& [t, p] : prepared_) {
    if (now_ - p.since_tick < opt_.inquiry_ticks) continue;
    p.since_tick = now_;  // again after another inquiry_ticks
    fx.send.push_back({t.coordinator, InquiryMsg{t, self_, p.shards}});
  }
  for (auto& [t, u] : unconfirmed_) {
    if (now_ - u.since_tick < opt_.inquiry_ticks) continue;
    u.since_tick = now_;
    fx.send.push_back({t.coordinator, InquiryMsg{t, self_, u.shards}});
  }
  return fx;
}

void Participant::become_leader() {
  proposed_.clear();
  floor_proposed_.clear();
  for (auto& [t, p] : prepared_) p.since_tick = now_;
  for (auto& [t, u] : unconfirmed_) u.since_tick = now_;
}

std::optional<bool> Participant::outcome(const TxnId& t) const {
  auto f = finished_.find(t);
  if (f == finished_.end()) return std::nullopt;
  return f->second.committed;
}

bool Participant::locked(std::string_view key) const { return locks_.contains(key); }

Reply Participant::locked_reply(std::string_view key) {
  std::string m = "TRYAGAIN key '";
  m.append(key.substr(0, 128));
  m.append("' is locked by a transaction in progress; nothing was applied, retry");
  return Reply::error(std::move(m));
}

std::string Participant::save() const {
  std::vector<std::string> prepared, finished, unconfirmed;
  for (const auto& [t, p] : prepared_)
    prepared.push_back(encode_entry(PrepareEntry{t, p.part, p.shards}));
  for (const auto& [t, f] : finished_) finished.push_back(encode_message(ack(t, f)));
  for (const auto& [t, u] : unconfirmed_)
    unconfirmed.push_back(encode_message(InquiryMsg{t, self_, u.shards}));
  std::vector<std::string> floors;
  for (const auto& [c, f] : floors_) floors.push_back(encode_message(FloorMsg{c, f}));
  return encode_list({encode_list(prepared), encode_list(finished), encode_list(unconfirmed),
                      encode_list(floors)});
}

bool Participant::load(std::string_view bytes) {
  auto halves = decode_list(bytes);
  // Two lists: an image from before no votes were kept unconfirmed; three:
  // from before floors.
  if (!halves || halves->size() < 2 || halves->size() > 4) return false;
  const std::vector<std::string_view> none;
  auto prepared = decode_list((*halves)[0]);
  auto finished = decode_list((*halves)[1]);
  auto unconfirmed = halves->size() >= 3 ? decode_list((*halves)[2]) : std::make_optional(none);
  auto floors = halves->size() >= 4 ? decode_list((*halves)[3]) : std::make_optional(none);
  if (!prepared || !finished || !unconfirmed || !floors) return false;
  std::map<TxnId, Prepared> p;
  std::map<TxnId, Finished> f;
  std::map<TxnId, Unconfirmed> u;
  std::map<ShardId, std::uint64_t> fl;
  for (std::string_view item : *floors) {
    std::optional<Message> m = decode_message(item);
    const auto* fm = m ? std::get_if<FloorMsg>(&*m) : nullptr;
    if (fm == nullptr) return false;
    fl[fm->coordinator] = fm->floor;
  }
  for (std::string_view item : *unconfirmed) {
    std::optional<Message> m = decode_message(item);
    const auto* q = m ? std::get_if<InquiryMsg>(&*m) : nullptr;
    if (q == nullptr) return false;
    u[q->txn] = Unconfirmed{q->shards, now_};
  }
  for (std::string_view item : *prepared) {
    std::optional<Entry> e = decode_entry(item);
    const auto* pe = e ? std::get_if<PrepareEntry>(&*e) : nullptr;
    if (pe == nullptr) return false;
    p[pe->txn].part = pe->part;
    p[pe->txn].shards = pe->shards;
  }
  for (std::string_view item : *finished) {
    std::optional<Message> m = decode_message(item);
    const auto* a = m ? std::get_if<AckMsg>(&*m) : nullptr;
    if (a == nullptr) return false;
    f[a->txn] = Finished{a->committed, a->results};
  }
  prepared_ = std::move(p);
  finished_ = std::move(f);
  unconfirmed_ = std::move(u);
  floors_ = std::move(fl);
  locks_.clear();
  for (const auto& [t, pr] : prepared_) {
    const TxnId& id = t;
    for_each_part_key(pr.part, [&](const std::string& k) { locks_.emplace(k, id); });
  }
  proposed_.clear();
  floor_proposed_.clear();
  for (auto& [t, pr] : prepared_) pr.since_tick = now_;
  return true;
}

void Effects::append(Effects other) {
  for (auto& e : other.propose) propose.push_back(std::move(e));
  for (auto& s : other.send) send.push_back(std::move(s));
  for (auto& d : other.done) done.push_back(std::move(d));
}

}  // namespace synod::kv::txn
