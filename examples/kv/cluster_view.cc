#include "cluster_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

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
//
// Worked out once per view (a view may hold 1024 shards): who is shown as
// each shard's master, and the nodes that lead none.
struct Topology {
  NodeId idle_master;           // the first led shard's leader; none if none is led
  std::vector<NodeId> masters;  // per shard: its leader, or who stands in (below)
  std::vector<NodeId> idle;     // members leading no shard, in id order
};

Topology topology_of(const ClusterView& v) {
  Topology t;
  std::set<std::uint64_t> leaders;
  NodeId other_leader;  // the first led shard's leader that is not this node
  for (const ShardView& s : v.shards) {
    if (!s.leader.valid()) continue;
    if (!t.idle_master.valid()) t.idle_master = s.leader;
    if (!other_leader.valid() && s.leader != v.self) other_leader = s.leader;
    leaders.insert(s.leader.value);
  }
  // A shard whose leader this node does not know (it elects, or this node
  // restarted and has not heard it yet) is shown under another node's name:
  // this one can only answer -TRYAGAIN, while a leader of another shard is
  // a master already (no node is listed as a master in one place and a
  // replica in another) and answers -MOVED once it knows the shard's
  // leader. Only while no shard has a leader is a master missing.
  NodeId stand_in = other_leader.valid() ? other_leader : t.idle_master;
  for (const ShardView& s : v.shards) t.masters.push_back(s.leader.valid() ? s.leader : stand_in);
  for (const auto& [id, a] : v.nodes)
    if (!leaders.contains(id)) t.idle.push_back(NodeId{id});
  return t;
}

// The nodes to list for shard i: its shown master, then, under the shards
// of the idle nodes' master, the nodes that lead none. While no shard has a
// leader, its replicas in id order, so clients still get a node to ask.
std::vector<NodeId> listed_nodes(const Topology& t, const ShardView& s, std::size_t i) {
  NodeId master = t.masters[i];
  if (!master.valid()) return s.members;
  std::vector<NodeId> out{master};
  if (master == t.idle_master) out.insert(out.end(), t.idle.begin(), t.idle.end());
  return out;
}

bool all_led(const ClusterView& v) {
  return std::all_of(v.shards.begin(), v.shards.end(),
                     [](const ShardView& s) { return s.leader.valid(); });
}

}  // namespace

std::string cluster_node_name(NodeId id) { return fmt::format("{:040x}", id.value); }

Reply cluster_slots(const ClusterView& view) {
  const Topology t = topology_of(view);
  std::vector<Reply> out;
  for (std::size_t i = 0; i < view.shards.size(); ++i) {
    const ShardView& s = view.shards[i];
    std::vector<Reply> entry{Reply::integer(s.range.first), Reply::integer(s.range.last)};
    for (NodeId n : listed_nodes(t, s, i)) {
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
// per master with the ranges of every shard it is shown for, and, while no
// shard has a leader, one per shard.
Reply cluster_shards(const ClusterView& view) {
  const Topology t = topology_of(view);
  struct Entry {
    std::vector<Reply> slots;
    std::size_t first_shard = 0;
  };
  std::vector<Entry> entries;
  std::map<std::uint64_t, std::size_t> entry_of;  // master -> its entry
  for (std::size_t i = 0; i < view.shards.size(); ++i) {
    NodeId master = t.masters[i];
    std::size_t e = entries.size();
    if (master.valid()) e = entry_of.try_emplace(master.value, entries.size()).first->second;
    if (e == entries.size()) entries.push_back(Entry{{}, i});
    entries[e].slots.push_back(Reply::integer(view.shards[i].range.first));
    entries[e].slots.push_back(Reply::integer(view.shards[i].range.last));
  }
  std::vector<Reply> out;
  for (Entry& e : entries) {
    NodeId master = t.masters[e.first_shard];
    std::vector<Reply> nodes;
    for (NodeId n : listed_nodes(t, view.shards[e.first_shard], e.first_shard))
      nodes.push_back(shard_node(view, n, n == master));
    out.push_back(Reply::array({Reply::bulk("slots"), Reply::array(std::move(e.slots)),
                                Reply::bulk("nodes"), Reply::array(std::move(nodes))}));
  }
  return Reply::array(std::move(out));
}

std::string cluster_nodes(const ClusterView& view) {
  const Topology t = topology_of(view);
  const NodeId idle_master = t.idle_master;
  std::map<std::uint64_t, std::string> slots_of;  // master -> " a-b c-d"
  for (std::size_t i = 0; i < view.shards.size(); ++i) {
    if (!t.masters[i].valid()) continue;
    const SlotRange& r = view.shards[i].range;
    slots_of[t.masters[i].value] +=
        r.first == r.last ? fmt::format(" {}", r.first) : fmt::format(" {}-{}", r.first, r.last);
  }
  std::string text;
  for (const auto& [id, a] : view.nodes) {
    NodeId n{id};
    const std::string& slots = slots_of[id];
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
