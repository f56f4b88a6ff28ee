// synod-sim --txn: the many-group world's groups as shards running the
// cross-shard commit protocol (txn_host.h), and the bank's clients
// (txn_bank.h). Each client has one transaction at a time: it sends the
// EXEC to the node it takes for the leader of the coordinator's group (the
// shard of the plan's first key, as a cluster client does) and waits for
// that node's answer; a node that does not lead that group points it at its
// leader guess. During the faults clients start transactions until the
// cool-down; after them, once every group has a leader, until
// kCommitsAfterFaults more committed. The world then waits until the
// protocol is quiet (txn_settled) and the bank checks every running node.
#include <fmt/format.h>

#include "group_world.h"

namespace synod::sim {

namespace {
// An EXEC needs four log commits and four hops; the vote timeout is 50
// ticks. A client that waits 300 ticks takes the outcome as unknown.
constexpr std::uint64_t kTxnPatienceSteps = 3000;
constexpr std::uint64_t kCommitsAfterFaults = 3;
}  // namespace

void GroupWorld::txn_setup() {
  bank_ = std::make_unique<TxnBank>(scenario_.groups, opt_.seed);
  txn_ = std::make_unique<TxnHost>(
      scenario_.nodes, scenario_.groups, opt_.seed, opt_.txn_plant,
      [bank = bank_.get()](std::uint64_t shard, kv::KvStore& store) { bank->seed(shard, store); });
  txn_->net().set_faults(scenario_.faults);
  txn_clients_.resize(scenario_.clients);
  // No register clients: the bank's transactions are the traffic.
  writes_due_.assign(scenario_.groups, 0);
  txn_commits_due_ = kCommitsAfterFaults;
}

bool GroupWorld::txn_flush(Node& n) {
  std::vector<TxnProposal> proposed;
  bool any = txn_->flush(n.id, *n.set, now_, proposed);
  for (TxnProposal& p : proposed) {
    trace("t={} txn propose {} g{} ticket {} {}B", now_, n.id.value, p.group, p.ticket,
          p.payload.size());
    Pending& pending = n.hosts.at(p.group).pending[p.ticket];
    pending.payload = std::move(p.payload);
    pending.txn = true;
  }
  return any;
}

void GroupWorld::txn_take_outcomes() {
  for (auto& [node_id, o] : txn_->take_outcomes()) {
    bank_->on_outcome(o);
    trace("t={} txn {}.{} answered at {}: {}", now_, o.txn.coordinator, o.txn.seq, node_id.value,
          o.kind == txn::ClientOutcome::Kind::committed ? "committed"
          : o.kind == txn::ClientOutcome::Kind::aborted ? "aborted"
                                                        : "unknown");
    for (TxnClient& cl : txn_clients_) {
      if (!cl.plan || !cl.on.valid() || cl.plan->id != o.txn || cl.on != node_id) continue;
      if (o.kind == txn::ClientOutcome::Kind::committed && faults_over_ && txn_commits_due_ > 0)
        --txn_commits_due_;
      cl.plan.reset();
      cl.on = NodeId{};
    }
  }
}

void GroupWorld::txn_forget_clients(NodeId n) {
  for (TxnClient& cl : txn_clients_) {
    if (!cl.plan || cl.on != n) continue;
    // Its coordinator is gone with the node: the outcome is unknown, and the
    // transaction is never sent again (a retry would be a new one).
    trace("t={} txn {}.{}: node {} crashed, outcome unknown", now_, cl.plan->id.coordinator,
          cl.plan->id.seq, n.value);
    cl.plan.reset();
    cl.on = NodeId{};
  }
}

void GroupWorld::txn_clients_act() {
  txn_take_outcomes();
  std::uint64_t tick = now_ / kStepsPerTick;
  for (std::size_t c = 0; c < txn_clients_.size(); ++c) {
    TxnClient& cl = txn_clients_[c];
    if (cl.on.valid() && now_ >= cl.give_up_at) {
      trace("t={} client {} gives up on txn {}.{} at node {}", now_, c, cl.plan->id.coordinator,
            cl.plan->id.seq, cl.on.value);
      cl.target[cl.plan->id.coordinator] = NodeId{cl.on.value % nodes_.size() + 1};
      cl.plan.reset();
      cl.on = NodeId{};
    }
    if (cl.on.valid()) continue;
    if (!cl.plan) {
      if (!faults_over_ && tick + scenario_.cool_ticks >= scenario_.fault_ticks) continue;
      if (faults_over_ && (!leaders_checked_ || txn_commits_due_ == 0)) continue;
      cl.plan = bank_->next_plan(++txn_seq_);
    }
    std::uint64_t g = cl.plan->id.coordinator;
    NodeId& target = cl.target[g];
    if (!target.valid()) target = NodeId{(c + g) % nodes_.size() + 1};
    Node& n = node(target);
    if (!n.set) {
      target = NodeId{target.value % nodes_.size() + 1};
      continue;
    }
    if (!txn_->start(n.id, *n.set, *cl.plan)) {
      // Not its leader: not begun, asked again elsewhere next tick.
      NodeId hint = n.set->find(GroupId{g})->leader();
      target = hint.valid() && hint != target ? hint : NodeId{target.value % nodes_.size() + 1};
      continue;
    }
    trace("t={} client {} starts txn {}.{} at node {} ({} shards)", now_, c, g, cl.plan->id.seq,
          n.id.value, cl.plan->parts.size());
    cl.on = n.id;
    cl.give_up_at = now_ + kTxnPatienceSteps;
    pump(n);
  }
}

bool GroupWorld::txn_settled() const {
  if (txn_commits_due_ > 0) return false;
  for (const TxnClient& cl : txn_clients_)
    if (cl.plan) return false;
  return txn_->quiet();
}

void GroupWorld::txn_final_check(Result& res) {
  std::vector<NodeId> running;
  for (Node& n : nodes_)
    if (n.set) running.push_back(n.id);
  trace(
      "t={} txn host: {} messages reached a node not leading their group, {} found no "
      "leader to go to, {} proposals lost while leading made again",
      now_, txn_->dropped_not_leader(), txn_->dropped_no_leader(), txn_->reproposed());
  TxnTally t = bank_->final_check(*txn_, running);
  res.txns_committed = t.committed;
  res.txns_aborted = t.aborted;
  res.txn_reads_checked = t.reads_checked;
}

}  // namespace synod::sim
