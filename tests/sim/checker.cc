#include "checker.h"

#include <fmt/format.h>

#include <algorithm>

namespace synod::sim {

namespace {
[[noreturn]] void fail(std::string what) { throw CheckFailure(std::move(what)); }
std::string b(Ballot x) { return fmt::format("{}.{}", x.round, x.node.value); }
}  // namespace

void Checker::on_start(NodeId n, bool wiped) {
  NodeState& ns = nodes_.at(n.value);
  ns.applied = Slot{};
  // A promise never synced (and so never sent) may die in a crash; what
  // must survive is every promise that left the node (promised_sent).
  ns.promised_now = Ballot{};
  ns.amnesiac = ns.amnesiac || wiped;  // until it votes again
}

void Checker::on_apply(NodeId n, const Entry& e) {
  NodeState& ns = nodes_.at(n.value);
  if (e.slot != ns.applied.next())
    fail(fmt::format("node {} applied slot {} after {}", n.value, e.slot.value, ns.applied.value));
  ns.applied = e.slot;
  auto [it, fresh] = chosen_.try_emplace(e.slot.value, e.value);
  if (!fresh) {
    if (!(it->second == e.value))
      fail(fmt::format("agreement: slot {} has two values", e.slot.value));
    return;
  }
  // The slot before was applied here, or restored from a snapshot that some
  // replica applied: the chosen log the checker knows has no holes.
  if (e.slot != governing_.known().next())
    fail(fmt::format("node {} applied slot {} before slot {} was applied anywhere", n.value,
                     e.slot.value, governing_.known().next().value));
  governing_.learn(e.value);
  while (!undecided_.empty() && governing_.at(Slot{*undecided_.begin()})) {
    std::uint64_t x = *undecided_.begin();
    undecided_.erase(undecided_.begin());
    decide(x);
  }
  // Applied means chosen: a majority of the voters governing the slot
  // accepted this value in one ballot.
  decide(e.slot.value);
  auto c = chosen_by_votes_.find(e.slot.value);
  if (c == chosen_by_votes_.end() || !(c->second.value == e.value)) {
    std::string voters;
    for (NodeId v : governing_.at(e.slot)->voters) voters += fmt::format(" {}", v.value);
    std::string ballots;
    if (auto vs = votes_.find(e.slot.value); vs != votes_.end())
      for (const auto& [bal, bv] : vs->second) {
        if (bv.voters.empty()) continue;
        ballots += fmt::format("{}in {} by", ballots.empty() ? "" : "; ", b(bal));
        for (std::uint64_t v : bv.voters) ballots += fmt::format(" {}", v);
      }
    fail(fmt::format(
        "node {} applied slot {}, which no majority of its configuration (voters{}) accepted in "
        "one ballot (accepted {})",
        n.value, e.slot.value, voters, ballots.empty() ? "by none" : ballots));
  }
  // Configurations are not client commands.
  if (e.value.kind() != ValueKind::commands) return;
  std::uint32_t i = 0;
  for (std::string_view c : e.value.commands()) {
    auto [p, first] = placed_.try_emplace(std::string(c), Place{e.slot, i});
    if (!first)
      fail(fmt::format("command {} chosen twice: slots {} and {}", c, p->second.slot.value,
                       e.slot.value));
    ++i;
  }
}

void Checker::on_state(NodeId n, Slot applied, std::uint64_t digest) {
  auto [it, fresh] = digests_.try_emplace(applied.value, digest);
  if (!fresh && it->second != digest)
    fail(fmt::format("node {}: state machine after slot {} differs from another replica's", n.value,
                     applied.value));
}

void Checker::on_restore(NodeId n, Slot slot, std::uint64_t digest) {
  NodeState& ns = nodes_.at(n.value);
  if (slot <= ns.applied)
    fail(fmt::format("node {} restored a snapshot of slot {} after applying {}", n.value,
                     slot.value, ns.applied.value));
  auto it = digests_.find(slot.value);
  if (it == digests_.end())
    fail(fmt::format("node {} restored a snapshot of slot {}, which no replica applied", n.value,
                     slot.value));
  if (it->second != digest)
    fail(fmt::format("node {} restored a snapshot of slot {} that differs from the applied state",
                     n.value, slot.value));
  ns.applied = slot;
}

void Checker::on_outcome(NodeId n, const ProposalOutcome& o, const std::string& payload) {
  if (o.outcome != Outcome::committed) return;
  auto it = chosen_.find(o.slot.value);
  if (it == chosen_.end())
    fail(fmt::format("node {} acknowledged slot {} before applying it", n.value, o.slot.value));
  const auto& cmds = it->second.commands();
  if (o.index >= cmds.size() || cmds[o.index] != payload)
    fail(fmt::format("acknowledged {} is not at slot {}[{}]", payload, o.slot.value, o.index));
  acked_[payload] = Place{o.slot, o.index};
  if (o.slot > acked_floor_) acked_floor_ = o.slot;
}

void Checker::on_read(NodeId n, const ReadState& r, Slot floor_when_asked) {
  if (r.ok && r.index < floor_when_asked)
    fail(fmt::format(
        "stale read on node {}: index {} below slot {} acknowledged before it was asked", n.value,
        r.index.value, floor_when_asked.value));
}

void Checker::on_change_outcome(NodeId n, const ProposalOutcome& o) const {
  if (o.outcome != Outcome::committed) return;
  auto it = chosen_.find(o.slot.value);
  if (it == chosen_.end() || !it->second.is_config())
    fail(fmt::format("node {} acknowledged a membership change at slot {}, which holds none",
                     n.value, o.slot.value));
}

// Node n accepted (x, b, v) durably: a vote, whoever hears of it.
void Checker::vote(NodeId n, Slot x, Ballot bal, const Value& v) {
  BallotVotes& bv = votes_[x.value][bal];
  if (bv.accepted && !(*bv.accepted == v))
    fail(fmt::format("slot {}: two values accepted in {}", x.value, b(bal)));
  if (bv.proposed && !(*bv.proposed == v))
    fail(fmt::format("slot {}: node {} accepted a value {} never proposed", x.value, n.value,
                     b(bal)));
  bv.accepted = v;
  if (std::find(bv.voters.begin(), bv.voters.end(), n.value) != bv.voters.end()) return;
  bv.voters.push_back(n.value);
  decide(x.value);
}

void Checker::decide(std::uint64_t x) {
  const Membership* m = governing_.at(Slot{x});
  if (m == nullptr) {
    undecided_.insert(x);
    return;
  }
  auto vs = votes_.find(x);
  if (vs == votes_.end()) return;
  for (const auto& [bal, bv] : vs->second) {  // ascending ballots
    if (!bv.accepted || !Governing::is_majority(*m, bv.voters)) continue;
    auto [it, fresh] = chosen_by_votes_.try_emplace(x, Chosen{bal, *bv.accepted});
    if (!fresh && !(it->second.value == *bv.accepted))
      fail(fmt::format("slot {}: a majority of its configuration accepted a second value in {}", x,
                       b(bal)));
    if (!fresh && bal >= it->second.ballot) continue;
    it->second.ballot = bal;
    // Proposals recorded before the checker knew the slot's configuration.
    for (auto p = vs->second.upper_bound(bal); p != vs->second.end(); ++p)
      if (p->second.proposed) check_proposal(x, p->first, *p->second.proposed);
  }
}

void Checker::on_accepted_sent(NodeId n, const Message& m, const MemoryStorage& s) {
  for (Slot x = m.slot; x < m.slot_end; x = x.next()) {
    const Entry* e = s.synced_entry(x);
    if (!e || e->ballot != m.ballot) continue;  // a chosen slot re-acknowledged
    vote(n, x, m.ballot, e->value);
  }
}

void Checker::on_own_vote(NodeId n, const Entry& e) { vote(n, e.slot, e.ballot, e.value); }

// Paxos Made Simple P2c: once a value is chosen in ballot b, every proposal
// for that slot in a higher ballot carries it. Checked on the leader's
// accepts, before any acceptor takes the wrong value, or when the slot's
// configuration becomes known. (A deposed leader may still send its older
// ballot's value; acceptors refuse it.)
void Checker::check_proposal(std::uint64_t x, Ballot bal, const Value& v) const {
  auto it = chosen_by_votes_.find(x);
  if (it != chosen_by_votes_.end() && bal > it->second.ballot && !(it->second.value == v))
    fail(fmt::format("slot {}: leader {} proposes a value other than the chosen one", x, b(bal)));
}

void Checker::on_accept_sent(const Message& m) {
  for (const Entry& e : m.entries) {
    BallotVotes& bv = votes_[e.slot.value][m.ballot];
    if (!bv.proposed)
      bv.proposed = e.value;
    else if (!(*bv.proposed == e.value))
      fail(fmt::format("slot {}: leader {} proposed two values", e.slot.value, b(m.ballot)));
    check_proposal(e.slot.value, m.ballot, e.value);
  }
}

void Checker::on_send(NodeId n, const Message& m, const MemoryStorage& s) {
  NodeState& ns = nodes_.at(n.value);
  if (m.type == MessageType::accepted) on_accepted_sent(n, m, s);
  if (m.type == MessageType::accept) on_accept_sent(m);
  if (m.type == MessageType::promise) {
    if (s.synced_hard_state().promised < m.ballot)
      fail(
          fmt::format("node {} sent a promise for {} before it was durable", n.value, b(m.ballot)));
  }
  if (m.type == MessageType::accepted) {
    for (Slot x = m.slot; x < m.slot_end; x = x.next())
      if (s.synced_entry(x) == nullptr && x >= s.synced_floor())
        fail(fmt::format("node {} acknowledged slot {} before it was durable", n.value, x.value));
  }
  if (m.type == MessageType::promise || m.type == MessageType::accepted ||
      m.type == MessageType::reject) {
    if (ns.amnesiac && m.ballot < ns.promised_sent)
      fail(fmt::format("node {} voted for {} after amnesia, below its earlier {}", n.value,
                       b(m.ballot), b(ns.promised_sent)));
    ns.amnesiac = false;
    if (m.ballot > ns.promised_sent) ns.promised_sent = m.ballot;
  }
}

void Checker::on_promise_seen(NodeId n, Ballot promised) {
  NodeState& ns = nodes_.at(n.value);
  if (promised < ns.promised_now)
    fail(fmt::format("node {} promise went back from {} to {}", n.value, b(ns.promised_now),
                     b(promised)));
  if (!ns.amnesiac && promised < ns.promised_sent)
    fail(fmt::format("node {} promise {} is below the {} it sent before", n.value, b(promised),
                     b(ns.promised_sent)));
  ns.promised_now = promised;
}

void Checker::final_check() const {
  for (const auto& [cmd, place] : acked_) {
    auto p = placed_.find(cmd);
    if (p == placed_.end() || p->second.slot != place.slot || p->second.index != place.index)
      fail(fmt::format("acknowledged command {} is not where it was acknowledged", cmd));
  }
}

}  // namespace synod::sim
