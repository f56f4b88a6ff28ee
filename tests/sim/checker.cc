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
  std::uint32_t i = 0;
  for (const std::string& c : e.value.commands()) {
    auto [p, first] = placed_.try_emplace(c, Place{e.slot, i});
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

// A majority accepted (slot, ballot): that value is chosen, whoever knows it.
void Checker::on_accepted_sent(NodeId n, const Message& m, const MemoryStorage& s) {
  for (Slot x = m.slot; x < m.slot_end; x = x.next()) {
    const Entry* e = s.synced_entry(x);
    if (!e || e->ballot != m.ballot) continue;  // a chosen slot re-acknowledged
    auto& voters = votes_[{x.value, m.ballot}];
    if (std::find(voters.begin(), voters.end(), n.value) == voters.end()) voters.push_back(n.value);
    if (voters.size() < majority_) continue;
    auto [it, fresh] = chosen_by_votes_.try_emplace(x.value, Chosen{m.ballot, e->value});
    if (fresh) continue;
    if (!(it->second.value == e->value))
      fail(fmt::format("slot {}: a majority accepted a second value in {}", x.value, b(m.ballot)));
    if (m.ballot < it->second.ballot) it->second.ballot = m.ballot;
  }
}

// Paxos Made Simple P2c: once a value is chosen in ballot b, every proposal
// for that slot in a higher ballot carries it. Checked on the leader's
// accepts, before any acceptor takes the wrong value. (A deposed leader may
// still send its older ballot's value; acceptors refuse it.)
void Checker::on_accept_sent(const Message& m) const {
  for (const Entry& e : m.entries) {
    auto it = chosen_by_votes_.find(e.slot.value);
    if (it != chosen_by_votes_.end() && m.ballot > it->second.ballot &&
        !(it->second.value == e.value))
      fail(fmt::format("slot {}: leader {} proposes a value other than the chosen one",
                       e.slot.value, b(m.ballot)));
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
