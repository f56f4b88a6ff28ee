// Redis Cluster's views of a sharded synod-kv (--shards N): CLUSTER SLOTS,
// SHARDS, NODES, INFO and MYID, built from what the node knows of each
// shard (its slot range, its leader, its replicas) and the members'
// addresses. Pure, so the formats are tested without a cluster.
//
// Redis Cluster has one master per shard and nodes that are either masters
// or replicas; in synod-kv every node is a replica of every shard and may
// lead several. All views describe one Redis topology: a node that leads
// shards is a master of their slots, and a node that leads none is a
// replica of the first led shard's leader. A shard whose leader this node
// does not know is shown under a leader of another shard, not this node.
// SLOTS lists per shard its range and its master (and, under that first
// leader's shards, the idle nodes); SHARDS one entry per master with all
// its ranges; NODES one line per node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hash_slot.h"
#include "resp_reply.h"
#include "synod/types.h"

namespace synod::kv {

struct ShardView {
  SlotRange range;
  NodeId leader{};              // invalid while the shard has no known leader
  std::vector<NodeId> members;  // every replica, in id order
};

struct NodeAddresses {
  std::string client;  // host:port Redis clients reach
  std::string peer;    // host:port of the consensus link (the bus port)
};

struct ClusterView {
  NodeId self{};
  std::vector<ShardView> shards;
  std::map<std::uint64_t, NodeAddresses> nodes;  // every member, by id
};

// The 40 lower-case hex characters Redis Cluster names a node with: the
// synod node id in hex, zero-padded ("000...0003" for node 3), so a person
// reading CLUSTER NODES still sees which node it is.
std::string cluster_node_name(NodeId id);

Reply cluster_slots(const ClusterView& view);
Reply cluster_shards(const ClusterView& view);
std::string cluster_nodes(const ClusterView& view);
// "cluster_state:ok" once every shard has a known leader, else "fail".
std::string cluster_info(const ClusterView& view);

}  // namespace synod::kv
