// The cross-shard commit protocol (examples/kv/txn/, docs/kv.md
// "Transactions across shards") hosted on the many-groups simulator
// (synod-sim --txn): every group is a shard, and every node's replica of a
// group feeds that group's chosen log entries to its own KvStore,
// Participant and Coordinator. What the machines ask for is carried the way
// synod-kv's node carries it, with the world's faults:
// - entries to propose go to that node's replica of the group, only while it
//   leads (a proposal refused or lost while it still leads is proposed
//   again: the machines take duplicates);
// - messages to another shard go over their own MemoryNetwork (the world's
//   drops, duplicates, delays, partitions and crashes), in the byte format
//   of txn_wire.h, to the node the sender's replica of the target group
//   takes for its leader; a node that does not lead the target when the
//   message arrives drops it (the senders resend);
// - leadership is what the replica says (role and ballot), watched before
//   every use: a new ballot is become_leader(), a lost one lose_leadership();
// - a node's crash loses its machines; on restart they start from the
//   initial data again and the replica's log replays into them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "kv_store.h"
#include "synod/group_set.h"
#include "synod/memory_network.h"
#include "txn/coordinator.h"
#include "txn/participant.h"

namespace synod::sim {

namespace txn = synod::kv::txn;

// A message between shard leaders on the simulated network.
struct TxnPacket {
  std::uint64_t shard = 0;  // the group whose leader it is for
  std::string bytes;        // txn::encode_message
};

// A proposal the host made, for the world's bookkeeping (the ticket's
// outcome comes back in a Ready).
struct TxnProposal {
  std::uint64_t group = 0;
  std::uint64_t ticket = 0;
  std::string payload;
};

class TxnHost {
 public:
  // The initial data every fresh KvStore of a shard starts from (the bank's
  // accounts), outside the log, identical on every replica.
  using Seed = std::function<void(std::uint64_t shard, kv::KvStore& store)>;

  // The planted bugs `plant` may name (each the machines' planted_ option
  // of that name), or empty for none.
  static const std::set<std::string, std::less<>>& plants();
  TxnHost(std::size_t nodes, std::size_t groups, std::uint64_t seed, std::string_view plant,
          Seed seeder);

  MemoryNetwork<TxnPacket>& net() { return net_; }

  void node_started(NodeId n);
  void node_crashed(NodeId n);

  // A chosen entry of group g applied on node n; returns the state digest
  // after it (for Checker::on_state: the entries so far and the KvStore's
  // contents). Throws CheckFailure on a command that
  // is not a commit protocol entry of this group.
  std::uint64_t apply(NodeId n, std::uint64_t g, GroupSet& set, const Entry& e);
  // The node's clock: its leaders' resends, inquiries and timeouts.
  void tick(NodeId n, GroupSet& set);
  // A packet arrived at node n.
  static std::string describe(const TxnPacket& p);  // for the trace
  void deliver(NodeId n, GroupSet& set, const TxnPacket& p);
  // A client's EXEC at node n; false when n does not lead the coordinator's
  // group (the client looks elsewhere).
  bool start(NodeId n, GroupSet& set, txn::TxnPlan plan);
  // A proposal of this host did not commit (refused, not_leader, unknown).
  void proposal_lost(NodeId n, std::uint64_t g, GroupSet& set, const std::string& payload);

  // Carries out what the node's machines asked for: proposes the queued
  // entries (returned, for the world to track) and sends the queued
  // messages. False when nothing was proposed.
  bool flush(NodeId n, GroupSet& set, std::uint64_t now, std::vector<TxnProposal>& proposed);

  // Client answers the coordinators gave since the last call: (node, outcome).
  std::vector<std::pair<NodeId, txn::ClientOutcome>> take_outcomes();

  // Nothing in progress on any running node: no entry waiting to be
  // proposed, no prepared transaction, no begun one undecided, nothing in
  // flight; and everything finished forgotten (no coordinator record, no
  // participant's finished record), so forgetting is checked for liveness.
  bool quiet() const;
  std::string describe_busy() const;

  // What the machines recorded, as it happened: the decision of every txn
  // (the first its coordinator's log chose, on any replica) and each
  // replica's outcome of it. Forgetting drops both from the machines; the
  // checks need them. A second, different one throws CheckFailure at once.
  std::optional<bool> decided(const txn::TxnId& t) const;
  std::optional<bool> recorded(NodeId n, std::uint64_t g, const txn::TxnId& t) const;

  bool running(NodeId n) const { return nodes_.at(n.value - 1).running; }
  kv::KvStore& store(NodeId n, std::uint64_t g) { return shard(n, g).store; }
  txn::Participant& participant(NodeId n, std::uint64_t g) { return shard(n, g).part; }
  txn::Coordinator& coordinator(NodeId n, std::uint64_t g) { return shard(n, g).coord; }

  std::uint64_t dropped_not_leader() const { return dropped_not_leader_; }
  std::uint64_t dropped_no_leader() const { return dropped_no_leader_; }
  std::uint64_t reproposed() const { return reproposed_; }

 private:
  // One group's replica of the protocol on one node.
  struct Shard {
    Shard(std::uint64_t g, txn::ParticipantOptions po, txn::CoordinatorOptions co)
        : part(static_cast<txn::ShardId>(g), store, po), coord(static_cast<txn::ShardId>(g), co) {}
    kv::KvStore store;
    txn::Participant part;
    txn::Coordinator coord;
    bool leading = false;
    Ballot ballot{};
    std::uint64_t digest = 0;
    std::vector<std::string> to_propose;  // encoded entries, no header yet
    std::vector<std::string> retry;       // lost while leading: proposed again at the next tick
  };
  struct Node {
    bool running = false;
    std::vector<std::unique_ptr<Shard>> shards;                    // index group - 1
    std::vector<std::pair<std::uint64_t, txn::Envelope>> to_send;  // (from group, message)
    std::uint64_t proposals = 0;  // numbers every proposal's header: never reused
  };

  Shard& shard(NodeId n, std::uint64_t g) { return *nodes_.at(n.value - 1).shards.at(g - 1); }
  // Brings the machines' idea of leadership in line with the replica's.
  void watch_role(NodeId n, std::uint64_t g, GroupSet& set);
  void carry(NodeId n, std::uint64_t g, txn::Effects fx);
  void note(NodeId n, std::uint64_t g, const txn::Entry& entry);

  std::size_t groups_;
  txn::ParticipantOptions participant_options_;
  txn::CoordinatorOptions coordinator_options_;
  Seed seeder_;
  std::vector<Node> nodes_;
  MemoryNetwork<TxnPacket> net_;
  std::vector<std::pair<NodeId, txn::ClientOutcome>> outcomes_;
  std::uint64_t dropped_not_leader_ = 0, dropped_no_leader_ = 0, reproposed_ = 0;
  std::map<txn::TxnId, bool> decided_;
  std::map<std::tuple<std::uint32_t, std::uint64_t, txn::TxnId>, bool> recorded_;
};

}  // namespace synod::sim
