// The many-groups world's clients: each writes unique values to registers
// of the busy groups (keys "g<group>k<i>") and reads them back, one
// operation at a time, on the node it believes leads that group. After the
// faults, once every group has a leader, they write to every group until
// each has committed its quota. One History holds every group's operations:
// keys are per group, and the checker splits the history by key.
#include "group_world.h"

namespace synod::sim {

namespace {
constexpr std::uint64_t kPatienceSteps = 150;
constexpr std::uint64_t kReadOneIn = 4;
}  // namespace

std::uint64_t GroupWorld::draw(std::uint64_t n) {
  std::uint64_t z = (rng_++ + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) % n;
}

void GroupWorld::clients_act() {
  if (txn_) return txn_clients_act();
  std::uint64_t tick = now_ / kStepsPerTick;
  for (std::size_t c = 0; c < clients_.size(); ++c) {
    Client& cl = clients_[c];
    if (cl.op && now_ >= cl.give_up_at) give_up(c);
    if (cl.op) continue;
    std::uint64_t g = 0;
    if (!faults_over_) {
      // The cool-down: groups fall asleep before the faults end.
      if (tick + scenario_.cool_ticks >= scenario_.fault_ticks) continue;
      g = scenario_.busy[draw(scenario_.busy.size())];
    } else {
      if (!leaders_checked_) continue;
      for (std::size_t i = 0; i < scenario_.groups && g == 0; ++i) {
        std::uint64_t x = (c + i) % scenario_.groups + 1;
        if (writes_due_[x - 1] > 0) g = x;
      }
      if (g == 0) continue;
    }
    if (!cl.value.empty()) g = cl.group;  // the write in hand first
    if (draw(kReadOneIn) == 0 && cl.value.empty() && client_read(c, g)) continue;
    client_write(c, g);
  }
}

bool GroupWorld::settle(std::size_t c, std::size_t op) {
  Client& cl = clients_[c];
  if (cl.op != op) return false;
  cl.op.reset();
  return true;
}

void GroupWorld::give_up(std::size_t c) {
  Client& cl = clients_[c];
  history_.unknown(*cl.op);
  trace("t={} client {} gives up at node {}", now_, c, cl.on.value);
  cl.op.reset();
  cl.value.clear();  // a write may still be chosen: never sent again
  cl.target[cl.group] = NodeId{cl.on.value % nodes_.size() + 1};
}

void GroupWorld::client_write(std::size_t c, std::uint64_t g) {
  Client& cl = clients_[c];
  if (cl.value.empty()) {
    cl.group = g;
    cl.key = fmt::format("g{}k{}", g, draw(3));
    cl.value = fmt::format("c{}.{}", c, ++cl.seq);
  }
  NodeId& target = cl.target[g];
  if (!target.valid()) target = NodeId{(c + g) % nodes_.size() + 1};
  Node& n = node(target);
  if (!n.set) {
    target = NodeId{target.value % nodes_.size() + 1};
    return;
  }
  std::string payload = KvMachine::write_command(cl.key, cl.value);
  ProposeResult r = n.set->find(GroupId{g})->propose(payload);
  n.set->touch(GroupId{g});
  if (!r.ok()) {  // refused before it was invoked: not an operation
    target = r.leader_hint.valid() && r.leader_hint != target
                 ? r.leader_hint
                 : NodeId{target.value % nodes_.size() + 1};
    pump(n);
    return;
  }
  std::size_t op = history_.invoke_write(c, cl.key, cl.value, now_);
  n.hosts.at(g).pending[r.ticket.value] = Pending{c, std::move(payload), op};
  cl.op = op;
  cl.on = n.id;
  cl.give_up_at = now_ + kPatienceSteps;
  pump(n);
}

bool GroupWorld::client_read(std::size_t c, std::uint64_t g) {
  Client& cl = clients_[c];
  NodeId at =
      draw(3) == 0 || !cl.target[g].valid() ? NodeId{draw(nodes_.size()) + 1} : cl.target[g];
  Node& n = node(at);
  std::string key = fmt::format("g{}k{}", g, draw(3));
  std::size_t op = history_.invoke_read(c, key, now_);
  if (!n.set) {
    history_.failed(op);
    return false;
  }
  ProposeResult r = n.set->find(GroupId{g})->read();
  n.set->touch(GroupId{g});
  if (!r.ok()) {
    history_.failed(op);
    pump(n);
    return false;
  }
  n.hosts.at(g).reads[r.ticket.value] =
      PendingRead{c, op, std::move(key), checker(g).acknowledged_floor(), {}};
  cl.group = g;
  cl.op = op;
  cl.on = n.id;
  cl.give_up_at = now_ + kPatienceSteps;
  pump(n);
  return true;
}

void GroupWorld::handle_outcome(Node& n, std::uint64_t g, const ProposalOutcome& o) {
  Host& h = n.hosts.at(g);
  auto it = h.pending.find(o.ticket.value);
  if (it == h.pending.end())
    throw CheckFailure(
        fmt::format("group {}: node {}: outcome for an unknown ticket", g, n.id.value));
  Pending p = std::move(it->second);
  h.pending.erase(it);
  checker(g).on_outcome(n.id, o, p.payload);
  if (p.txn) {
    if (o.outcome != Outcome::committed) txn_->proposal_lost(n.id, g, *n.set, p.payload);
    return;
  }
  trace("t={} outcome {} g{} ticket {} {}", now_, n.id.value, g, o.ticket.value,
        to_string(o.outcome));
  Client& cl = clients_[p.client];
  switch (o.outcome) {
    case Outcome::committed:
      history_.write_returned(p.op, now_);
      if (faults_over_ && writes_due_[g - 1] > 0) --writes_due_[g - 1];
      if (settle(p.client, p.op)) cl.value.clear();
      return;
    case Outcome::not_leader:
      history_.failed(p.op);
      if (settle(p.client, p.op))
        cl.target[g] =
            o.leader_hint.valid() ? o.leader_hint : NodeId{n.id.value % nodes_.size() + 1};
      return;
    case Outcome::unknown:
      history_.unknown(p.op);
      if (settle(p.client, p.op)) cl.value.clear();
      return;
  }
}

void GroupWorld::handle_read_state(Node& n, std::uint64_t g, const ReadState& r) {
  Host& h = n.hosts.at(g);
  auto it = h.reads.find(r.ticket.value);
  if (it == h.reads.end())
    throw CheckFailure(fmt::format("group {}: a read state for an unknown ticket", g));
  PendingRead pr = std::move(it->second);
  h.reads.erase(it);
  checker(g).on_read(n.id, r, pr.floor);
  if (!r.ok) {
    history_.failed(pr.op);
    if (settle(pr.client, pr.op) && r.leader_hint.valid())
      clients_[pr.client].target[g] = r.leader_hint;
    return;
  }
  pr.index = r.index;
  h.serving.push_back(std::move(pr));
}

void GroupWorld::serve_reads(Node& n, std::uint64_t g) {
  Host& h = n.hosts.at(g);
  for (auto it = h.serving.begin(); it != h.serving.end();) {
    if (it->index > h.kv.applied()) {
      ++it;
      continue;
    }
    history_.read_returned(it->op, now_, h.kv.get(it->key));
    settle(it->client, it->op);
    it = h.serving.erase(it);
  }
}

void GroupWorld::forget_client_ops(Node& n) {
  for (auto& [g, h] : n.hosts) {
    for (auto& [ticket, p] : h.pending) {
      if (p.txn) continue;
      history_.unknown(p.op);
      if (settle(p.client, p.op)) clients_[p.client].value.clear();
    }
    for (auto& [ticket, r] : h.reads) settle(r.client, r.op);
    for (const PendingRead& r : h.serving) settle(r.client, r.op);
    h.pending.clear();
    h.reads.clear();
    h.serving.clear();
  }
}

}  // namespace synod::sim
