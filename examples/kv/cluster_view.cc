#include "cluster_view.h"

#include <fmt/format.h>

#include <algorithm>

namespace synod::kv {
namespace {

// host and port of "host:port" or "[v6]:port" (brackets dropped, as Redis
// reports an IPv6 address). Port 0 when the text has none.
std::pair<std::string, std::int64_t> split(const std::string& address) {
  std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return {address, 0};
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::int64_t port = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9') return {host, 0};
    port = port * 10 + (c - '0');
  }
  return {host, port};
}

const NodeAddresses& addresses(const ClusterView& v, NodeId id) {
  static const NodeAddresses none;
  auto it = v.nodes.find(id.value);
  return it == v.nodes.end() ? none : it->second;
}

// The Redis Cluster topology the views describe, one for all of them
// (Redis has a node be a master or a replica, never both): a node leading
// at least one shard is a master of those shards' slots, and a node leading
// none is a replica of the first led shard's leader. A shard's other
// replicas are not listed under it: they answer its keys with -MOVED, so a
// client gains nothing from them, and python3-redis keeps the role a node
// is first listed with (a leader listed as a replica of another shard is
// then left out of get_primaries(), and DBSIZE summed over the masters
// falls short).
NodeId idle_nodes_master(const ClusterView& v) {
  for (const ShardView& s : v.shards)
    if (s.leader.valid()) return s.leader;
  return NodeId{};
}

bool leads_a_shard(const ClusterView& v, NodeId n) {
  return std::any_of(v.shards.begin(), v.shards.end(),
                     [n](const ShardView& s) { return s.leader == n; });
}

// The nodes to list for a shard: its leader, then, under the shards of the
// idle nodes' master, those nodes. A shard with no leader known lists its
// replicas in id order, so clients still get a node to ask (it answers
// -TRYAGAIN or -MOVED).
std::vector<NodeId> listed_nodes(const ClusterView& v, const ShardView& s) {
  if (!s.leader.valid()) return s.members;
  std::vector<NodeId> out{s.leader};
  if (s.leader != idle_nodes_master(v)) return out;
  for (const auto& [id, a] : v.nodes)
    if (!leads_a_shard(v, NodeId{id})) out.push_back(NodeId{id});
  return out;
}

bool all_led(const ClusterView& v) {
  return std::all_of(v.shards.begin(), v.shards.end(),
                     [](const ShardView& s) { return s.leader.valid(); });
}

}  // namespace

std::string cluster_node_name(NodeId id) { return fmt::format("{:040x}", id.value); }

Reply cluster_slots(const ClusterView& view) {
  std::vector<Reply> out;
  for (const ShardView& s : view.shards) {
    std::vector<Reply> entry{Reply::integer(s.range.first), Reply::integer(s.range.last)};
    for (NodeId n : listed_nodes(view, s)) {
      auto [host, port] = split(addresses(view, n).client);
      entry.push_back(Reply::array(
          {Reply::bulk(host), Reply::integer(port), Reply::bulk(cluster_node_name(n))}));
    }
    out.push_back(Reply::array(std::move(entry)));
  }
  return Reply::array(std::move(out));
}

namespace {

Reply shard_node(const ClusterView& view, NodeId n, bool master) {
  auto [host, port] = split(addresses(view, n).client);
  return Reply::array({
      Reply::bulk("id"),
      Reply::bulk(cluster_node_name(n)),
      Reply::bulk("port"),
      Reply::integer(port),
      Reply::bulk("ip"),
      Reply::bulk(host),
      Reply::bulk("endpoint"),
      Reply::bulk(host),
      Reply::bulk("role"),
      Reply::bulk(master ? "master" : "replica"),
      Reply::bulk("replication-offset"),
      Reply::integer(0),
      Reply::bulk("health"),
      Reply::bulk("online"),
  });
}

}  // namespace

// Redis 7's shape, where a shard is a master and its replicas: one entry
// per leading node with the ranges of every shard it leads, and one per
// shard with no leader known.
Reply cluster_shards(const ClusterView& view) {
  std::vector<Reply> out;
  std::vector<NodeId> listed;
  for (const ShardView& s : view.shards) {
    if (std::find(listed.begin(), listed.end(), s.leader) != listed.end()) continue;
    std::vector<Reply> slots;
    for (const ShardView& t : view.shards) {
      if (&t != &s && (!s.leader.valid() || t.leader != s.leader)) continue;
      slots.push_back(Reply::integer(t.range.first));
      slots.push_back(Reply::integer(t.range.last));
    }
    std::vector<Reply> nodes;
    for (NodeId n : listed_nodes(view, s)) nodes.push_back(shard_node(view, n, n == s.leader));
    if (s.leader.valid()) listed.push_back(s.leader);
    out.push_back(Reply::array({Reply::bulk("slots"), Reply::array(std::move(slots)),
                                Reply::bulk("nodes"), Reply::array(std::move(nodes))}));
  }
  return Reply::array(std::move(out));
}

std::string cluster_nodes(const ClusterView& view) {
  NodeId idle_master = idle_nodes_master(view);
  std::string text;
  for (const auto& [id, a] : view.nodes) {
    NodeId n{id};
    std::string slots;
    for (const ShardView& s : view.shards) {
      if (s.leader != n) continue;
      slots += s.range.first == s.range.last ? fmt::format(" {}", s.range.first)
                                             : fmt::format(" {}-{}", s.range.first, s.range.last);
    }
    std::string flags = n == view.self ? "myself," : "";
    std::string master = "-";
    if (!slots.empty() || !idle_master.valid()) {
      flags += "master";
    } else {
      flags += "slave";
      master = cluster_node_name(idle_master);
    }
    auto [host, port] = split(a.client);
    auto [peer_host, bus_port] = split(a.peer);
    text += fmt::format("{} {}:{}@{} {} {} 0 0 1 connected{}\n", cluster_node_name(n), host, port,
                        bus_port, flags, master, slots);
  }
  return text;
}

std::string cluster_info(const ClusterView& view) {
  bool ok = all_led(view);
  std::size_t assigned = 0, served = 0;
  std::vector<std::uint64_t> leaders;
  for (const ShardView& s : view.shards) {
    std::size_t n = std::size_t{s.range.last} - s.range.first + 1;
    assigned += n;
    if (s.leader.valid()) served += n;
    if (s.leader.valid() &&
        std::find(leaders.begin(), leaders.end(), s.leader.value) == leaders.end())
      leaders.push_back(s.leader.value);
  }
  return fmt::format(
      "cluster_state:{}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{}\r\n"
      "cluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\n"
      "cluster_size:{}\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\n"
      "cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
      "synod_shards:{}\r\n",
      ok ? "ok" : "fail", assigned, served, assigned - served, view.nodes.size(), leaders.size(),
      view.shards.size());
}

}  // namespace synod::kv
