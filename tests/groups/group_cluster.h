// Nodes that each run one synod::GroupSet over the same groups, with
// MemoryStorage per group and a queue of messages between them, delivered
// one at a time: the host loop docs/groups.md describes, small enough to
// drive by hand in tests.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "synod/group_set.h"
#include "synod/memory_storage.h"

namespace synod::test {

struct GroupNode {
  NodeId id{};
  std::unique_ptr<GroupSet> set;
  std::map<std::uint64_t, MemoryStorage> storage;  // group -> its storage
  std::uint64_t incarnation = 1;
};

class GroupCluster {
 public:
  struct Sent {
    NodeId from{}, to{};
    Message msg;
  };

  // nodes 1..nodes, each holding groups 1..groups (all voters everywhere).
  GroupCluster(std::size_t nodes, std::size_t groups,
               std::function<void(Config&)> configure = nullptr);

  GroupNode& node(std::uint64_t id) { return nodes_.at(id - 1); }
  std::size_t size() const { return nodes_.size(); }
  // Runs every node's Ready loop for its dirty groups and flushes its node
  // heartbeats into the queue (or straight out of it, when down or cut off).
  void pump(GroupNode& n);
  void pump_all();
  // Delivers everything queued (and what that produces) until quiet.
  void settle();
  void tick_all();
  // Ticks and settles `ticks` times.
  void run(std::size_t ticks);
  // Crashes node id (its GroupSet and everything in flight to it are gone,
  // its storage stays) until restart().
  void crash(std::uint64_t id);
  void restart(std::uint64_t id);
  bool down(std::uint64_t id) const { return down_.count(id) > 0; }
  // One-way cut from a to b (both ways: call twice).
  void cut(std::uint64_t a, std::uint64_t b) { cut_.insert({a, b}); }
  void heal() { cut_.clear(); }
  // Which node leads group g (as that node's replica says), or 0.
  std::uint64_t leader_of(std::uint64_t g);

  // Every message that left a node since the last clear (node heartbeats
  // and group messages alike).
  std::vector<Sent> sent;
  // Groups whose Ready loop ran, per node, since the last clear.
  std::map<std::uint64_t, std::vector<GroupId>> pumped;
  // Reads confirmed (Ready::reads), per node, since the last clear.
  std::map<std::uint64_t, std::vector<ReadState>> reads;

 private:
  void start(GroupNode& n);

  std::size_t groups_;
  std::function<void(Config&)> configure_;
  std::vector<GroupNode> nodes_;
  std::deque<Sent> queue_;
  std::set<std::uint64_t> down_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> cut_;
};

}  // namespace synod::test
