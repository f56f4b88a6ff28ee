// A small in-process model of shard groups for the commit protocol's unit
// tests: per shard a log, two replicas applying it (each a KvStore with its
// Participant and Coordinator), a leader among them, proposals not yet
// chosen, and a network of messages between the groups' leaders that can
// drop, duplicate and reorder. Paxos itself is not modelled: an entry is
// chosen when the world says so, and a leader crash loses or chooses each
// of its pending proposals. The simulator's many-group worlds replace this
// once GroupSet lands (docs/kv.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kv_store.h"
#include "txn/coordinator.h"
#include "txn/participant.h"

namespace synod::kv::txn::test {

struct Faults {
  double drop = 0;       // a delivered message is lost
  double duplicate = 0;  // a delivered message stays in the network too
  double crash = 0;      // per step: a random group's leader crashes
};

class World {
 public:
  World(std::size_t shards, std::uint64_t seed, Faults faults = {},
        ParticipantOptions participant = {}, CoordinatorOptions coordinator = {});

  std::size_t shards() const { return groups_.size(); }
  // Sets a key on every replica of a shard, outside the log (initial data).
  void seed_key(ShardId shard, const std::string& key, const std::string& value);
  // A client's EXEC at the coordinator shard's leader.
  void start(TxnPlan plan);

  // Primitives, for directed tests.
  bool choose_one(ShardId shard);  // the oldest pending proposal is chosen
  void choose_all();               // every pending proposal of every shard
  bool deliver_one();              // the oldest message, without faults
  void deliver_all();
  void tick_all();
  // The shard's leader crashes: each pending proposal chosen with
  // probability `chosen`, the rest lost; the other replica leads.
  void crash_leader(ShardId shard, double chosen = 0);
  std::vector<Envelope>& network() { return network_; }

  // Random steps with the faults, then a fault-free settle until quiet:
  // nothing pending, in flight or prepared, and everything finished
  // forgotten (no coordinator record, no participant's finished record).
  void run(std::size_t steps);
  bool settle(std::size_t rounds = 2000);

  KvStore& store(ShardId shard, std::size_t replica = 0);
  Participant& participant(ShardId shard, std::size_t replica = 0);
  Coordinator& coordinator(ShardId shard, std::size_t replica = 0);
  // What the replicas recorded when they applied it, kept after the
  // machines forget (docs/kv.md "Forgetting"): the coordinator's decision
  // and a participant's outcome, as first recorded; a later, different one
  // counts in changed_records().
  std::optional<bool> decision(ShardId shard, const TxnId& t, std::size_t replica = 0) const;
  std::optional<bool> outcome(ShardId shard, const TxnId& t, std::size_t replica = 0) const;
  std::size_t changed_records() const { return changed_; }
  // Client outcomes, by txn; a txn answered twice is recorded in `twice`.
  const std::map<TxnId, ClientOutcome>& outcomes() const { return outcomes_; }
  std::size_t answered_twice() const { return twice_; }
  std::size_t crashes() const { return crashes_; }

 private:
  struct Replica {
    Replica(ShardId id, ParticipantOptions p, CoordinatorOptions c)
        : part(id, store, p), coord(id, c) {}
    KvStore store;
    Participant part;
    Coordinator coord;
  };
  struct Group {
    std::vector<std::unique_ptr<Replica>> replicas;
    std::size_t leader = 0;
    std::vector<Entry> pending;
    std::size_t log_size = 0;
  };
  Replica& leader(ShardId s) { return *groups_[s].replicas[groups_[s].leader]; }
  void carry(ShardId from, Effects fx);
  void choose(ShardId shard, std::size_t index, bool leader_alive);
  void deliver(Envelope env);

  std::vector<Group> groups_;
  std::vector<Envelope> network_;
  std::map<TxnId, ClientOutcome> outcomes_;
  std::size_t twice_ = 0;
  // (shard, replica, txn) -> decision / outcome, as first recorded.
  std::map<std::tuple<ShardId, std::size_t, TxnId>, bool> decisions_, outcomes_recorded_;
  std::size_t changed_ = 0;
  void note(ShardId shard, std::size_t replica, const Entry& e);
  std::size_t crashes_ = 0;
  Faults faults_;
  std::mt19937_64 rng_;
};

}  // namespace synod::kv::txn::test
