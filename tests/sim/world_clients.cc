// The simulated clients: each writes unique values ("c0.17") to a few shared
// registers and reads them back, one operation at a time, on whatever node it
// believes serves it. Every operation goes into the history that
// check_history() judges at the end of the run, with the step it was asked
// at and the step its answer arrived at.
#include <fmt/format.h>

#include "world.h"

namespace synod::sim {

namespace {

// How long a client waits before it gives up (the operation stays unknown)
// and goes elsewhere: an election timeout and a half at the nominal tick.
// Long enough that most operations finish under heavy loss, short enough
// that clients held by a cut-off leader move on to its successor while the
// old one may still believe it leads: the window a stale read needs (with
// twice this, read_without_confirm shows in a third fewer seeds; with no
// giving up, almost never).
constexpr std::uint64_t kPatienceSteps = 150;

// One turn in this many starts with a read.
constexpr std::uint64_t kReadOneIn = 4;

}  // namespace

// Clients' choices are hashed from the shared counter: taken modulo n
// directly, a client alone in the loop can fall into a cycle (always
// reading, say) when the counter advances by a multiple of n per turn.
std::uint64_t World::draw(std::uint64_t n) {
  std::uint64_t z = (rng_++ + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) % n;
}

void World::clients_act() {
  // With quiescence on, clients rest 70 ticks of every 160 while faults
  // run: the group falls asleep, crashes and partitions hit it asleep, and
  // the next operation wakes it (world_quiesce.cc).
  bool resting =
      opt_.quiesce && !faults_over_ && (now_ / kStepsPerTick + opt_.seed * 37) % 160 >= 90;
  for (std::size_t c = 0; c < clients_.size(); ++c) {
    Client& cl = clients_[c];
    if (cl.op && now_ >= cl.give_up_at) give_up(c);
    if (cl.op || resting || (faults_over_ && cl.quota_after_faults == 0)) continue;
    // A refused read costs the client no turn: it writes instead.
    if (draw(kReadOneIn) == 0 && client_read(c)) continue;
    client_write(c);
  }
}

void World::wait_for(Client& cl, std::size_t op, NodeId on) {
  cl.op = op;
  cl.on = on;
  cl.give_up_at = now_ + kPatienceSteps;
}

// The client hears the end of op: true when it was the one it waited for
// (not one it gave up on before).
bool World::settle(std::size_t c, std::size_t op) {
  Client& cl = clients_[c];
  if (cl.op != op) return false;
  cl.op.reset();
  return true;
}

void World::give_up(std::size_t c) {
  Client& cl = clients_[c];
  history_.unknown(*cl.op);
  bool write = history_.ops()[*cl.op].kind == LinOp::Kind::write;
  trace("t={} client {} gives up on its {} at node {}", now_, c, write ? "write" : "read",
        cl.on.value);
  cl.op.reset();
  cl.shunned = cl.on;
  cl.shunned_until = now_ + kPatienceSteps;
  if (write) {
    cl.value.clear();  // it may still be chosen: never sent again
    cl.target = next_target(cl, cl.on, {});
  } else {
    cl.read_target = next_target(cl, cl.on, {});
  }
}

// Where a client goes after `from` failed it: the hint, unless it names a
// node the client gave up on lately, else the next node round the ring.
NodeId World::next_target(const Client& cl, NodeId from, NodeId hint) {
  auto shunned = [&](NodeId x) { return x == cl.shunned && now_ < cl.shunned_until; };
  if (hint.valid() && hint != from && !shunned(hint)) return hint;
  NodeId next{from.value % nodes_.size() + 1};
  if (shunned(next)) next = NodeId{next.value % nodes_.size() + 1};
  return next;
}

void World::client_write(std::size_t c) {
  Client& cl = clients_[c];
  if (cl.value.empty()) {
    cl.key = keys_[draw(keys_.size())];
    cl.value = fmt::format("c{}.{}", c, ++cl.seq);
  }
  if (!cl.target.valid()) cl.target = NodeId{(c + now_) % nodes_.size() + 1};
  Node& n = node(cl.target);
  if (!n.replica) {
    cl.target = next_target(cl, cl.target, {});
    return;
  }
  std::string payload = KvMachine::write_command(cl.key, cl.value);
  ProposeResult r = n.replica->propose(payload);
  if (!r.ok()) {  // refused before it was invoked: not an operation
    cl.target = next_target(cl, cl.target, r.leader_hint);
    return;
  }
  std::size_t op = history_.invoke_write(c, cl.key, cl.value, now_);
  n.pending[r.ticket.value] = Pending{c, std::move(payload), op};
  wait_for(cl, op, n.id);
  process_ready(n);
}

// Reads go to the node that served the last one, now and then to any node
// (a client that knows no better). A follower that cannot serve reads says
// not_leader: a failed operation, retried elsewhere; once followers serve
// reads (asking the leader for the index) they are tested the same way.
bool World::client_read(std::size_t c) {
  Client& cl = clients_[c];
  if (!cl.read_target.valid() || draw(8) == 0) cl.read_target = random_node();
  Node& n = node(cl.read_target);
  const std::string& key = keys_[draw(keys_.size())];
  std::size_t op = history_.invoke_read(c, key, now_);
  ProposeResult r = n.replica ? n.replica->read() : ProposeResult{Status::unavailable, {}, {}};
  if (!r.ok()) {
    history_.failed(op);
    cl.read_target = r.leader_hint.valid() && draw(2) ? r.leader_hint : random_node();
    return false;
  }
  n.reads[r.ticket.value] = PendingRead{c, op, key, checker_.acknowledged_floor(), {}};
  wait_for(cl, op, n.id);
  process_ready(n);
  return true;
}

void World::handle_outcome(Node& n, const ProposalOutcome& o) {
  if (handle_change_outcome(n, o)) return;
  auto it = n.pending.find(o.ticket.value);
  if (it == n.pending.end())
    throw CheckFailure(fmt::format("node {}: outcome for an unknown ticket", n.id.value));
  Pending p = std::move(it->second);
  n.pending.erase(it);
  checker_.on_outcome(n.id, o, p.payload);
  trace("t={} outcome {} ticket {} {}", now_, n.id.value, o.ticket.value, to_string(o.outcome));
  Client& cl = clients_[p.client];
  switch (o.outcome) {
    case Outcome::committed:
      history_.write_returned(p.op, now_);
      if (!settle(p.client, p.op)) return;
      cl.value.clear();
      if (faults_over_ && cl.quota_after_faults > 0) --cl.quota_after_faults;
      return;
    case Outcome::not_leader:
      // Certainly never applied: the same write may be retried elsewhere.
      history_.failed(p.op);
      if (settle(p.client, p.op)) cl.target = next_target(cl, n.id, o.leader_hint);
      return;
    case Outcome::unknown:
      history_.unknown(p.op);
      if (settle(p.client, p.op)) cl.value.clear();  // may still be chosen: never resent
      return;
  }
}

void World::handle_read_state(Node& n, const ReadState& r) {
  auto it = n.reads.find(r.ticket.value);
  if (it == n.reads.end()) throw CheckFailure("a read state for an unknown ticket");
  PendingRead pr = std::move(it->second);
  n.reads.erase(it);
  checker_.on_read(n.id, r, pr.floor);
  trace("t={} read {} ticket {} {} index {}", now_, n.id.value, r.ticket.value,
        r.ok ? "ok" : "failed", r.index.value);
  if (!r.ok) {
    history_.failed(pr.op);
    Client& cl = clients_[pr.client];
    if (settle(pr.client, pr.op))
      cl.read_target = r.leader_hint.valid() ? r.leader_hint : random_node();
    return;
  }
  pr.index = r.index;
  n.serving.push_back(std::move(pr));
}

// A confirmed read is served once the host applied its index (it may wait
// for later Readys): the value is the register as it is at that step.
void World::serve_reads(Node& n) {
  for (auto it = n.serving.begin(); it != n.serving.end();) {
    if (it->index > n.kv.applied()) {
      ++it;
      continue;
    }
    std::optional<std::string> seen = n.kv.get(it->key);
    history_.read_returned(it->op, now_, seen);
    trace("t={} serve {} {}={} at slot {} (index {})", now_, n.id.value, it->key,
          seen.value_or("absent"), n.kv.applied().value, it->index.value);
    settle(it->client, it->op);
    it = n.serving.erase(it);
  }
}

// The node crashed: its clients never hear back. Writes stay unknown (one
// may still be chosen) and are never resent; reads carry no information.
void World::forget_client_ops(Node& n) {
  for (auto& [ticket, p] : n.pending) {
    history_.unknown(p.op);
    if (settle(p.client, p.op)) clients_[p.client].value.clear();
  }
  for (auto& [ticket, r] : n.reads) settle(r.client, r.op);
  for (const PendingRead& r : n.serving) settle(r.client, r.op);
  n.pending.clear();
  n.reads.clear();
  n.serving.clear();
  requeue_changes(n);
}

}  // namespace synod::sim
