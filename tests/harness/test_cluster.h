// A cluster of replicas over MemoryStorage for tests: messages go through an
// in-memory queue (`wire`) one at a time, and every Ready is finished by one
// loop that follows the whole contract of synod/ready.h and
// docs/embedding.md: save the snapshot, then hard state and entries, sync
// when asked; send; restore, apply, note the membership; record outcomes and
// reads; advance. Tests that need a state machine set on_apply/on_restore;
// everything the hosts saw is kept per node for assertions.
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

// One replica and what its host did with its Readys.
struct TestNode {
  Config config;
  MemoryStorage storage;
  std::unique_ptr<Replica> replica;  // null while stopped
  std::vector<Entry> applied;        // every committed entry, all kinds, in order
  std::vector<ProposalOutcome> outcomes;
  std::vector<ReadState> reads;
  std::optional<Membership> membership;  // the last one announced
  std::vector<Snapshot> restores;        // snapshots restored, in order
  std::size_t snapshots_saved = 0;
};

class TestCluster {
 public:
  // Adjusts the Config of each node before it starts (after id, voters and
  // seed = id are filled in).
  using Configure = std::function<void(Config&)>;

  // Voters 1..voters, all started.
  explicit TestCluster(std::size_t voters, Configure configure = {});

  // A node with this Config that is not started yet (e.g. a learner to add).
  void add(const Config& config);
  // (Re)creates the replica over the node's storage, as a restart does.
  void start(std::uint64_t id);
  // Drops the replica (its storage stays, synced or not).
  void stop(std::uint64_t id);

  TestNode& at(std::uint64_t id);
  const TestNode& at(std::uint64_t id) const;
  Replica& node(std::uint64_t id) { return *at(id).replica; }
  bool running(std::uint64_t id) const;

  // Finishes every Ready the node has.
  void drain(std::uint64_t id);
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

  // Decides each delivery: false and the message is lost. Messages to a node
  // that is not running are lost too (counted in `undelivered`).
  std::function<bool(const Message&)> deliver = [](const Message&) { return true; };
  // The host's state machine: each committed entry of ValueKind::commands,
  // and each restore (before the entries that follow it).
  std::function<void(std::uint64_t id, const Entry&)> on_apply;
  std::function<void(std::uint64_t id, const Snapshot&)> on_restore;

  std::deque<Message> wire;
  std::size_t undelivered = 0;

 private:
  std::map<std::uint64_t, TestNode> nodes_;
};

}  // namespace synod::test
