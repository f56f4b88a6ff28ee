// GroupSet's insides, shared by its two files: group_set.cc (groups, ticks,
// sleep and wake, dirty list) and node_beats.cc (node heartbeats out and in,
// routing). Not installed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

#include "../core/planted_bugs.h"
#include "synod/group_set.h"

namespace synod {

struct GroupSet::State {
  // One group here. Heap-allocated so pointers survive rehashing.
  struct Group {
    explicit Group(GroupId g, const Config& c, const Storage& s)
        : id(g), replica(c, s), lease_reads(c.lease_reads) {}
    GroupId id;
    Replica replica;
    bool lease_reads;    // a late timer ticks its leader for every period missed
    bool dirty = false;  // listed in `dirty` since the last take_dirty()
    // Listed in `awake`; tick() re-lists it while it stays awake.
    bool listed_awake = false;
    // Filed in sleepers[under] while it sleeps (under: its leader's node,
    // self for a sleeping leader, NodeId{} when it knows no leader).
    bool filed_asleep = false;
    NodeId asleep_under{};
  };

  // What this node knows of a peer node: when it was last heard (any frame),
  // its incarnation (node heartbeats carry it), and the group beats held
  // for it until the next flush().
  struct Peer {
    std::uint64_t heard_at = 0;
    bool known_incarnation = false;
    std::uint64_t incarnation = 0;
    std::uint64_t beat_sent_at = 0;
    bool beat_sent = false;
    std::vector<GroupBeat> held;
  };

  explicit State(const GroupSetOptions& o) : options(o), bug(testing::planted_bug()) {}

  Group* group(GroupId g) {
    auto it = groups.find(g.value);
    return it == groups.end() ? nullptr : it->second.get();
  }
  Peer& peer(NodeId n) {
    auto [it, fresh] = peers.try_emplace(n.value);
    if (fresh) it->second.heard_at = now;  // watched from now on
    return it->second;
  }
  // Ticks since node n was last heard; 0 for this node itself.
  std::uint64_t silence(NodeId n) {
    if (n == options.self) return 0;
    if (!n.valid()) return options.election_ticks;
    return now - peer(n).heard_at;
  }

  void mark_dirty(Group& g);
  void list_awake(Group& g);
  void file_asleep(Group& g);
  void unfile(Group& g);
  // Rouses g (asleep or not) with its leader's node silent this long, and
  // puts it back among the awake.
  void wake(Group& g, std::uint64_t silent_ticks);
  // Wakes every group filed asleep under node n; returns how many.
  std::size_t wake_under(NodeId n, std::uint64_t silent_ticks);
  // A message for group msg.group, from this node's point of view. By
  // reference: an accept carries a whole batch, a copy per message costs
  // every command's allocation again.
  void route(const Message& in);
  // Whether g's replica would take msg in: addressed here, from a member.
  bool admissible(Group& g, const Message& msg) const;
  // Node heartbeats: refusal rules (true: acceptable) and their expansion.
  bool acceptable(NodeId from, const Message& msg) const;
  void on_node_heartbeat(NodeId from, const Message& msg);

  GroupSetOptions options;
  PlantedBug bug;
  std::uint64_t now = 0;  // ticks
  std::unordered_map<std::uint64_t, std::unique_ptr<Group>> groups;
  std::vector<GroupId> awake;  // may hold removed or re-listed ids: checked on use
  std::vector<GroupId> dirty;
  // Sleeping groups by the node they sleep under, so tick() looks at one
  // entry per leader node, not at every group.
  std::map<NodeId, std::set<GroupId>> sleepers;
  std::set<NodeId> peer_nodes;  // set_peers()
  std::map<std::uint64_t, Peer> peers;
  GroupSetStats stats;
};

}  // namespace synod
