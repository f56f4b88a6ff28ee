// A cluster of replicas over MemoryStorage for tests: messages go through an
// in-memory queue (`wire`) one at a time, and every Ready is finished by one
// loop that follows the whole contract of synod/ready.h and
// docs/embedding.md: save the snapshot, then hard state and entries, sync
// when asked; send; restore, apply, note the membership; record outcomes and
// reads; advance. Each node's host keeps a small state machine (the commands
// applied, snapshotted as their '\n'-joined image) and everything it saw, for
// assertions. A StorageFor puts a node over another Storage (the durable
// log). Used by tests/unit and tests/storage; see docs/testing.md.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "synod/memory_storage.h"
#include "synod/replica.h"

namespace synod::test {

// One replica, its host's state machine, and what its host did with its
// Readys.
struct TestNode {
  Config config;
  MemoryStorage storage;  // the replica's storage unless the cluster's StorageFor names another
  Storage* external_storage = nullptr;  // the storage StorageFor gave at the last start(), if any
  std::unique_ptr<Replica> replica;     // null while stopped
  // The state machine: the commands applied, in order; its snapshot image is
  // them joined with '\n' (image()), and a restore replaces them.
  std::vector<std::string> commands;
  Slot applied_slot{};  // the last slot applied or restored
  // What the host saw, kept across restarts unless cleared by the test.
  std::vector<Entry> committed;  // every committed entry, all kinds, in order
  std::vector<ProposalOutcome> outcomes;
  std::vector<ReadState> reads;
  std::optional<Membership> membership;  // the last one announced
  std::vector<Snapshot> restores;        // snapshots restored, in order
  std::size_t snapshots_saved = 0;

  // The storage the replica runs over: external_storage when set, else storage.
  Storage& store() { return external_storage ? *external_storage : storage; }

  std::string image() const;
  // Replaces the state machine with a snapshot's image.
  void restore(const Snapshot& snapshot);
  // Whether the state machine applied `command`.
  bool has_command(const std::string& command) const;
};

class TestCluster {
 public:
  // Adjusts the Config of each node before it starts (after id, voters and
  // seed = id are filled in).
  using Configure = std::function<void(Config&)>;
  // The storage a node runs over from this start() on, owned by the test (say
  // a LogStorage reopened after a crash); null for the node's MemoryStorage.
  using StorageFor = std::function<Storage*(std::uint64_t id)>;

  // Voters 1..voters, all started.
  explicit TestCluster(std::size_t voters, Configure configure = {}, StorageFor storage_for = {});
  // Voters 1..voters, only `id` running: the test plays the others, stepping
  // their messages into node(id) and taking what it sent with take_wire()
  // (settle() would lose them: their addressees are not running).
  static TestCluster alone(std::uint64_t id, std::size_t voters, Configure configure = {});

  // A node with this Config, not started yet (e.g. a learner to add); for a
  // node already there, replaces the Config its next start() uses.
  void add(const Config& config);
  // (Re)creates the replica over the node's storage with its `config`, as a
  // restart does. With config.applied zero the state machine starts empty
  // (commands and applied_slot cleared); otherwise the test keeps it in step.
  void start(std::uint64_t id);
  // Drops the replica (its storage stays, synced or not, and so does the
  // host's state).
  void stop(std::uint64_t id);

  // A lost disk: stops the node, empties its storage and its host's state
  // and record. Only for a node over its MemoryStorage (throws otherwise). Start it again (with
  // config.join_existing to rejoin).
  void wipe(std::uint64_t id);

  TestNode& at(std::uint64_t id);
  const TestNode& at(std::uint64_t id) const;
  Replica& node(std::uint64_t id) { return *at(id).replica; }
  bool running(std::uint64_t id) const;

  // Finishes every Ready the node has: its messages go to the back of
  // `wire` (a test with its own network may take them from there). Throws
  // when committed entries do not follow the applied slot one by one (the
  // contract of Ready::committed).
  void drain(std::uint64_t id);
  // Empties `wire`, handing back what was on it, in order.
  std::vector<Message> take_wire();
  // Drains every node and delivers one message at a time until no node has
  // a Ready and the wire is empty. Throws when that takes over max_steps
  // deliveries (the cluster never went quiet).
  void settle(std::size_t max_steps = 200000);
  // Ticks every running replica once, then settles; `ticks` times.
  void tick_all(int ticks);
  // The running replica that believes it leads, 0 when none.
  std::uint64_t leader() const;
  // Proposes `command` on the leader and runs until every running replica
  // applied it; false when there is no leader, the proposal is refused or a
  // replica has not applied it after a few heartbeats.
  bool commit_everywhere(const std::string& command);
  // Hands `m` to its addressee as if it came off the network, then settles.
  void inject(const Message& m);
  // From now on every message to or from `id` is lost (replaces `deliver`).
  void isolate(std::uint64_t id);
  // Lets every message through again (undoes isolate()).
  void heal();
  // Compacts the node's log at its applied slot with its state machine's
  // image (Replica::compact), as a host taking a snapshot does.
  Status compact(std::uint64_t id);

  // Decides each delivery: false and the message is lost. Messages to a node
  // that is not running are lost too (counted in `undelivered`).
  std::function<bool(const Message&)> deliver = [](const Message&) { return true; };

  std::deque<Message> wire;
  std::map<MessageType, std::size_t> sent;  // messages the replicas sent, by type
  std::size_t undelivered = 0;

 private:
  StorageFor storage_for_;
  std::map<std::uint64_t, TestNode> nodes_;
};

}  // namespace synod::test
