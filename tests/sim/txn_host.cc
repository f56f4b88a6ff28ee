#include "txn_host.h"

#include <fmt/format.h>

#include "checker.h"
#include "txn/txn_wire.h"

namespace synod::sim {

namespace {

std::uint64_t mix(std::uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return (h ^ 0xff) * 0x100000001b3ULL;
}

// A proposal is "T<node>.<n>:" then the entry's bytes. The header makes
// every proposal distinct (the Checker tracks each acknowledged command by
// its bytes, and the host may propose one entry twice); the machines never
// see it.
std::string_view strip_header(std::string_view payload) {
  std::size_t colon = payload.find(':');
  if (payload.empty() || payload[0] != 'T' || colon == std::string_view::npos) return {};
  return payload.substr(colon + 1);
}

}  // namespace

const std::set<std::string, std::less<>>& TxnHost::plants() {
  static const std::set<std::string, std::less<>> names{"apply_before_decision",
                                                        "abort_tells_inquirer_only",
                                                        "forget_unacked", "prepare_below_floor"};
  return names;
}

TxnHost::TxnHost(std::size_t nodes, std::size_t groups, std::uint64_t seed, std::string_view plant,
                 Seed seeder)
    : groups_(groups),
      seeder_(std::move(seeder)),
      nodes_(nodes),
      net_(seed * 0x2545f4914f6cdd1dULL + 3) {
  participant_options_.planted_apply_before_decision = plant == "apply_before_decision";
  participant_options_.planted_prepare_below_floor = plant == "prepare_below_floor";
  coordinator_options_.planted_abort_tells_inquirer_only = plant == "abort_tells_inquirer_only";
  coordinator_options_.planted_forget_unacked = plant == "forget_unacked";
  for (std::uint64_t g = 1; g <= groups; ++g)
    coordinator_options_.all_shards.push_back(static_cast<txn::ShardId>(g));
}

void TxnHost::node_started(NodeId n) {
  Node& node = nodes_.at(n.value - 1);
  node.running = true;
  node.shards.clear();
  node.to_send.clear();
  for (std::uint64_t g = 1; g <= groups_; ++g) {
    node.shards.push_back(std::make_unique<Shard>(g, participant_options_, coordinator_options_));
    seeder_(g, node.shards.back()->store);
  }
}

void TxnHost::node_crashed(NodeId n) {
  Node& node = nodes_.at(n.value - 1);
  node.running = false;
  node.shards.clear();
  node.to_send.clear();
}

void TxnHost::watch_role(NodeId n, std::uint64_t g, GroupSet& set) {
  Shard& s = shard(n, g);
  const Replica* r = set.find(GroupId{g});
  bool leads = r->role() == Role::leader;
  Ballot ballot = leads ? r->info().ballot : Ballot{};
  if (leads == s.leading && ballot == s.ballot) return;
  if (s.leading) {
    // Its EXECs whose outcome it does not know answer unknown; what it meant
    // to propose is the next leader's business (become_leader()).
    carry(n, g, s.coord.lose_leadership());
    s.to_propose.clear();
    s.retry.clear();
  }
  s.leading = leads;
  s.ballot = ballot;
  if (!leads) return;
  s.part.become_leader();
  carry(n, g, s.coord.become_leader());
}

void TxnHost::carry(NodeId n, std::uint64_t g, txn::Effects fx) {
  for (txn::ClientOutcome& o : fx.done) outcomes_.emplace_back(n, std::move(o));
  Shard& s = shard(n, g);
  if (!s.leading) return;  // a follower's effects are the leader's to carry out
  for (const txn::Entry& e : fx.propose) s.to_propose.push_back(txn::encode_entry(e));
  for (txn::Envelope& e : fx.send) nodes_.at(n.value - 1).to_send.emplace_back(g, std::move(e));
}

std::uint64_t TxnHost::apply(NodeId n, std::uint64_t g, GroupSet& set, const Entry& e) {
  watch_role(n, g, set);
  Shard& s = shard(n, g);
  for (std::string_view cmd : e.value.commands()) {
    s.digest = mix(s.digest, cmd);
    if (e.value.kind() != ValueKind::commands) continue;
    std::string_view why;
    std::optional<txn::Entry> entry = txn::decode_entry(strip_header(cmd), &why);
    if (!entry)
      throw CheckFailure(
          fmt::format("group {}: node {} applied slot {}: not a commit protocol "
                      "entry ({})",
                      g, n.value, e.slot.value, why));
    std::uint64_t coordinator = 0;
    if (const auto* b = std::get_if<txn::BeginEntry>(&*entry)) coordinator = b->plan.id.coordinator;
    if (const auto* d = std::get_if<txn::DecideEntry>(&*entry)) coordinator = d->txn.coordinator;
    if (const auto* f = std::get_if<txn::ForgetEntry>(&*entry))
      for (const txn::TxnId& t : f->txns)
        if (t.coordinator != g) coordinator = t.coordinator;
    if (coordinator != 0 && coordinator != g)
      throw CheckFailure(
          fmt::format("group {}: node {} applied slot {}: a coordinator entry of "
                      "group {}",
                      g, n.value, e.slot.value, coordinator));
    txn::Effects fx = s.part.apply(*entry);
    fx.append(s.coord.apply(*entry));
    note(n, g, *entry);
    carry(n, g, std::move(fx));
  }
  s.digest = mix(s.digest, std::to_string(e.slot.value));
  // The log so far and the store's contents: replicas compared slot by slot
  // must hold the same balances too, not only the same entries.
  return s.digest ^ s.store.digest();
}

void TxnHost::note(NodeId n, std::uint64_t g, const txn::Entry& entry) {
  Shard& s = shard(n, g);
  auto name = [](const txn::TxnId& t) { return fmt::format("txn {}.{}", t.coordinator, t.seq); };
  if (const auto* d = std::get_if<txn::DecideEntry>(&entry)) {
    std::optional<bool> now = s.coord.decision(d->txn);
    if (!now) return;
    auto [it, first] = decided_.emplace(d->txn, *now);
    if (!first && it->second != *now)
      throw CheckFailure(fmt::format(
          "{}: group {} on node {} decided {} after {} was decided "
          "(a forgotten decision made again?)",
          name(d->txn), g, n.value, *now ? "commit" : "abort", it->second ? "commit" : "abort"));
    return;
  }
  txn::TxnId t;
  if (const auto* p = std::get_if<txn::PrepareEntry>(&entry))
    t = p->txn;
  else if (const auto* c = std::get_if<txn::CommitEntry>(&entry))
    t = c->txn;
  else if (const auto* a = std::get_if<txn::AbortEntry>(&entry))
    t = a->txn;
  else
    return;
  std::optional<bool> got = s.part.outcome(t);
  if (!got) return;
  auto [it, first] = recorded_.emplace(std::make_tuple(n.value, g, t), *got);
  if (!first && it->second != *got)
    throw CheckFailure(fmt::format("{}: group {} on node {} recorded {} after {}", name(t), g,
                                   n.value, *got ? "commit" : "abort",
                                   it->second ? "commit" : "abort"));
}

std::optional<bool> TxnHost::decided(const txn::TxnId& t) const {
  auto it = decided_.find(t);
  if (it == decided_.end()) return std::nullopt;
  return it->second;
}

std::optional<bool> TxnHost::recorded(NodeId n, std::uint64_t g, const txn::TxnId& t) const {
  auto it = recorded_.find(std::make_tuple(n.value, g, t));
  if (it == recorded_.end()) return std::nullopt;
  return it->second;
}

void TxnHost::tick(NodeId n, GroupSet& set) {
  for (std::uint64_t g = 1; g <= groups_; ++g) {
    watch_role(n, g, set);
    Shard& s = shard(n, g);
    if (!s.leading) continue;
    for (std::string& e : s.retry) s.to_propose.push_back(std::move(e));
    s.retry.clear();
    txn::Effects fx = s.part.tick();
    fx.append(s.coord.tick());
    carry(n, g, std::move(fx));
  }
}

void TxnHost::deliver(NodeId n, GroupSet& set, const TxnPacket& p) {
  std::string_view why;
  std::optional<txn::Message> msg = txn::decode_message(p.bytes, &why);
  if (!msg)
    throw CheckFailure(fmt::format("node {}: an undecodable commit message ({})", n.value, why));
  if (p.shard < 1 || p.shard > groups_)
    throw CheckFailure(fmt::format("node {}: a commit message for group {}", n.value, p.shard));
  watch_role(n, p.shard, set);
  Shard& s = shard(n, p.shard);
  if (!s.leading) {
    ++dropped_not_leader_;
    return;
  }
  txn::Effects fx;
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, txn::PrepareMsg>) fx = s.part.on_prepare(m);
        if constexpr (std::is_same_v<M, txn::VoteMsg>) fx = s.coord.on_vote(m);
        if constexpr (std::is_same_v<M, txn::DecisionMsg>) fx = s.part.on_decision(m);
        if constexpr (std::is_same_v<M, txn::AckMsg>) fx = s.coord.on_ack(m);
        if constexpr (std::is_same_v<M, txn::InquiryMsg>) fx = s.coord.on_inquiry(m);
        if constexpr (std::is_same_v<M, txn::FloorMsg>) fx = s.part.on_floor(m);
        if constexpr (std::is_same_v<M, txn::FloorAckMsg>) fx = s.coord.on_floor_ack(m);
      },
      *msg);
  carry(n, p.shard, std::move(fx));
}

std::string TxnHost::describe(const TxnPacket& p) {
  std::optional<txn::Message> msg = txn::decode_message(p.bytes);
  if (!msg) return fmt::format("g{} undecodable", p.shard);
  return std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, txn::FloorMsg>)
          return fmt::format("g{} floor {}.{}", p.shard, m.coordinator, m.floor);
        else if constexpr (std::is_same_v<M, txn::FloorAckMsg>)
          return fmt::format("g{} floor ack from {} at {}", p.shard, m.from, m.floor);
        else {
          std::string_view kind = std::is_same_v<M, txn::PrepareMsg>    ? "prepare"
                                  : std::is_same_v<M, txn::VoteMsg>     ? "vote"
                                  : std::is_same_v<M, txn::DecisionMsg> ? "decision"
                                  : std::is_same_v<M, txn::AckMsg>      ? "ack"
                                                                        : "inquiry";
          return fmt::format("g{} {} {}.{}", p.shard, kind, m.txn.coordinator, m.txn.seq);
        }
      },
      *msg);
}

bool TxnHost::start(NodeId n, GroupSet& set, txn::TxnPlan plan) {
  std::uint64_t g = plan.id.coordinator;
  watch_role(n, g, set);
  Shard& s = shard(n, g);
  if (!s.leading) return false;
  carry(n, g, s.coord.start(std::move(plan)));
  return true;
}

void TxnHost::proposal_lost(NodeId n, std::uint64_t g, GroupSet& set, const std::string& payload) {
  watch_role(n, g, set);
  Shard& s = shard(n, g);
  if (!s.leading) return;  // the next leader's become_leader() takes over
  // Still leading the same ballot: the machines believe it proposed and
  // will not ask again, so the host does.
  // Not before the next tick: a pump proposes until nothing is left.
  s.retry.emplace_back(strip_header(payload));
  ++reproposed_;
}

bool TxnHost::flush(NodeId n, GroupSet& set, std::uint64_t now,
                    std::vector<TxnProposal>& proposed) {
  Node& node = nodes_.at(n.value - 1);
  bool any = false;
  for (std::uint64_t g = 1; g <= groups_; ++g) {
    Shard& s = *node.shards[g - 1];
    if (s.to_propose.empty()) continue;
    watch_role(n, g, set);
    std::size_t done = 0;
    for (; done < s.to_propose.size(); ++done) {
      std::string payload = fmt::format("T{}.{}:", n.value, ++node.proposals);
      payload.append(s.to_propose[done]);
      Replica* r = set.find(GroupId{g});
      ProposeResult res = r->propose(payload);
      set.touch(GroupId{g});
      if (!res.ok()) break;  // kept for the next flush (a tick's), while it leads
      proposed.push_back({g, res.ticket.value, std::move(payload)});
      any = true;
    }
    s.to_propose.erase(s.to_propose.begin(),
                       s.to_propose.begin() + static_cast<std::ptrdiff_t>(done));
  }
  for (auto& [from, env] : node.to_send) {
    NodeId to = set.find(GroupId{env.to})->leader();
    if (!to.valid() || env.to < 1 || env.to > groups_) {
      ++dropped_no_leader_;  // nobody known to lead it: the resends find one later
      continue;
    }
    net_.send(now, n, to, TxnPacket{env.to, txn::encode_message(env.msg)});
  }
  node.to_send.clear();
  return any;
}

std::vector<std::pair<NodeId, txn::ClientOutcome>> TxnHost::take_outcomes() {
  return std::exchange(outcomes_, {});
}

bool TxnHost::quiet() const {
  if (net_.in_flight() != 0) return false;
  for (const Node& node : nodes_) {
    if (!node.running) continue;
    if (!node.to_send.empty()) return false;
    for (const auto& s : node.shards)
      if (!s->to_propose.empty() || !s->retry.empty() || s->part.prepared_count() != 0 ||
          s->coord.undecided() != 0 || s->coord.records() != 0 || s->part.finished_count() != 0)
        return false;
  }
  return true;
}

std::string TxnHost::describe_busy() const {
  std::string out = fmt::format("commit messages in flight {}", net_.in_flight());
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    if (!node.running) continue;
    for (std::size_t g = 0; g < node.shards.size(); ++g) {
      const Shard& s = *node.shards[g];
      if (s.to_propose.empty() && s.part.prepared_count() == 0 && s.coord.records() == 0 &&
          s.part.finished_count() == 0)
        continue;
      out += fmt::format(
          "; n{} g{}: {} to propose, {} prepared, {} undecided, {} records (floor {}), {} "
          "finished{}",
          i + 1, g + 1, s.to_propose.size(), s.part.prepared_count(), s.coord.undecided(),
          s.coord.records(), s.coord.floor(), s.part.finished_count(), s.leading ? " (leads)" : "");
    }
  }
  return out;
}

}  // namespace synod::sim
