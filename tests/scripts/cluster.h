// An in-process cluster of Replicas that moves only when a script says so.
// Messages wait in the receiver's inbox until delivered and Readys wait until
// processed, so a script can put a crash, a loss or a partition between any
// two steps of the host contract (docs/embedding.md, the Ready loop).
//
// The cluster also checks, as it goes, what no script may ever show (each
// violation is printed as a line starting with "!!"):
//  - agreement: two replicas apply different values for one slot (invariant 3);
//  - order: a replica applies slots out of order or with a gap (invariant 5);
//  - durable promises: a promise that was synced, and so possibly sent, is
//    lower after a sync or a restart (invariant 1);
//  - snapshots: a restored snapshot equals the chosen log up to its slot;
//  - persist before send: a promise or accepted message leaves while what it
//    speaks for is not durable (invariant 6).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "synod/config.h"
#include "synod/memory_storage.h"
#include "synod/replica.h"

namespace synod::script {

using Lines = std::vector<std::string>;

// A mistake in the script itself (unknown node, bad argument). It fails the
// block; it says nothing about the core.
struct CommandError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Which queued messages a delivery takes; unset fields match everything.
struct MessageFilter {
  NodeId from{};
  std::optional<MessageType> type;
  bool matches(const Message& m) const {
    return (!from.valid() || m.from == from) && (!type || m.type == *type);
  }
};

class Cluster {
 public:
  // Nodes 1..n, all voters, configured like base (id and voters filled in),
  // and `spare` more that start outside the cluster (configured with the
  // voters and themselves as a learner, as a joining process is).
  void add_nodes(std::size_t n, std::size_t spare, const Config& base, Lines& out);
  void read(NodeId id, Lines& out);
  void transfer(NodeId id, NodeId to, Lines& out);
  void change(NodeId id, MembershipOp op, NodeId node, Lines& out);

  void tick(NodeId id, std::uint64_t count, Lines& out);
  void tick_all(std::uint64_t count, Lines& out);
  void campaign(NodeId id, Lines& out);
  void propose(NodeId id, std::string text, Lines& out);

  // Runs the host contract on one Ready: save, sync, send, apply, report,
  // advance. stop_before_sync saves only and halts the node: the script must
  // crash it next (a host that died between write and fsync). Returns whether
  // there was a Ready.
  bool process_ready(NodeId id, bool stop_before_sync, Lines& out);
  bool process_ready_all(Lines& out);
  // Steps (or with drop, discards) the queued messages to id that match f, in
  // arrival order. Returns whether any matched.
  bool deliver(NodeId id, const MessageFilter& f, bool drop, Lines& out);
  bool deliver_all(const MessageFilter& f, bool drop, Lines& out);
  // process-ready all, deliver all, until neither has anything to do.
  void stabilize(Lines& out);

  // The process dies: the replica, its unapplied state machine and the
  // messages queued to it are gone; storage loses unsynced writes except the
  // first keep_unsynced.
  void crash(NodeId id, std::size_t keep_unsynced, Lines& out);
  // A new Replica over the node's storage. join sets Config::join_existing.
  void restart(NodeId id, bool join, Lines& out);
  // Crash (if up) and erase the node's storage.
  void wipe(NodeId id, Lines& out);

  // The host snapshots its state machine at the slot it applied last and
  // hands it to Replica::compact.
  void compact(NodeId id, Lines& out);

  // Messages between a and b are dropped at delivery, both ways, until heal.
  void partition(NodeId a, NodeId b);
  void heal() { cut_.clear(); }

  void status(std::optional<NodeId> id, Lines& out) const;
  void log(NodeId id, Lines& out) const;
  std::vector<NodeId> ids() const;

 private:
  struct Node {
    NodeId id{};
    Config config;
    std::unique_ptr<MemoryStorage> storage;
    std::optional<Replica> replica;  // empty while crashed
    bool halted = false;             // saved a Ready but never synced it
    std::deque<Message> inbox;
    std::vector<Entry> applied;  // the host's state machine; lost in a crash
    Role role_seen = Role::follower;
    // What the last sync (or recovery) made durable: right after a sync,
    // storage holds nothing unsynced. Promises and acceptances a message
    // speaks for must be in here (invariant 6). Invariant: durable_promise
    // never decreases.
    Ballot durable_promise{};
    std::map<std::uint64_t, Ballot> durable_ballots;  // slot -> accepted ballot
  };

  Node& node(NodeId id);
  const Node& node(NodeId id) const;
  // The node if it can act, else nullptr with a line saying why.
  Node* live(NodeId id, Lines& out);
  void note_role(Node& n, const std::string& prefix, const std::string& suffix, Lines& out);
  // Records what storage now holds as durable, checking the promise did not
  // go back.
  void note_durable(Node& n, Ballot promised, Lines& out);
  void check_sent_durable(const Node& n, const Message& m, Lines& out) const;

  void save_and_sync(Node& n, const Ready& rd, bool stop_before_sync, Lines& out);
  void send(const Node& from, const Message& m, Lines& out);
  void apply(Node& n, const Entry& e, Lines& out);
  void restore(Node& n, const Snapshot& snap, Lines& out);
  void receive(Node& n, const Message& m, bool drop, Lines& out);

  std::vector<std::unique_ptr<Node>> nodes_;               // nodes_[i] has id i + 1
  std::set<std::pair<std::uint64_t, std::uint64_t>> cut_;  // (low, high) id pairs
  std::map<std::uint64_t, Value> chosen_;  // the first value applied per slot, anywhere
};

}  // namespace synod::script
