// synod::GroupSet's traffic: group heartbeats and acks held and coalesced
// into one node heartbeat per peer node (flush), node heartbeats checked and
// expanded back into group messages (step), node-level liveness and
// restarts, and routing to the group (docs/groups.md).
#include <algorithm>
#include <optional>

#include "group_set_state.h"
#include "synod/wire.h"

namespace synod {

namespace {

bool coalesced(MessageType t) {
  return t == MessageType::heartbeat || t == MessageType::heartbeat_ack;
}

// The node heartbeat a peer needs to split ours into: WireLimits' default.
constexpr std::size_t kBeatsPerMessage = wire::WireLimits{}.beats_max;

}  // namespace

// The rules lib/wire checks for a frame (check_beats), checked again here
// for hosts that hand messages over without the codec, plus the two only
// the receiver can check: the sender is who the transport says, and the
// message is for this node.
bool GroupSet::State::acceptable(NodeId from, const Message& msg) const {
  if (msg.from != from || msg.to != options.self) return false;
  if (msg.group.value != 0 || !msg.ballot.is_zero()) return false;
  if (msg.beats.size() > kBeatsPerMessage) return false;
  for (const GroupBeat& b : msg.beats) {
    if (!coalesced(b.type) || b.group.value == 0) return false;
    if (b.ballot.round != 0 && !b.ballot.node.valid()) return false;
    if (b.type == MessageType::heartbeat && (b.ballot.round == 0 || b.ballot.node != from))
      return false;
    if (b.type == MessageType::heartbeat_ack && b.quiesce) return false;
  }
  return true;
}

void GroupSet::State::on_node_heartbeat(NodeId from, const Message& msg) {
  ++stats.node_heartbeats_received;
  Peer& p = peer(from);
  bool restarted = p.known_incarnation && p.incarnation != msg.slot.value;
  p.known_incarnation = true;
  p.incarnation = msg.slot.value;
  // A restarted node leads nothing it led before: its sleepers wake as
  // leaderless (drawing their elections over one election timeout).
  if (restarted && bug != PlantedBug::sleep_through_dead_leader)
    stats.wakes_leader_restarted += wake_under(from, options.election_ticks);
  for (const GroupBeat& b : msg.beats) {
    Message m;
    m.type = b.type;
    m.group = b.group;
    m.from = from;
    m.to = options.self;
    m.ballot = b.ballot;
    m.slot = b.slot;
    m.commit = b.commit;
    m.quiesce = b.quiesce;
    route(m);
  }
}

// The wrong group for the planted bug deliver_to_wrong_group: the next group
// here by id (wrapping), or none when this is the only one.
namespace {
GroupId other_group(
    const std::unordered_map<std::uint64_t, std::unique_ptr<GroupSet::State::Group>>& groups,
    GroupId g) {
  GroupId above{}, lowest{};
  for (const auto& [id, grp] : groups) {
    if (id == g.value) continue;
    if (id > g.value && (above.value == 0 || id < above.value)) above = GroupId{id};
    if (lowest.value == 0 || id < lowest.value) lowest = GroupId{id};
  }
  return above.value != 0 ? above : lowest;
}
}  // namespace

// Checked only on the rare path that wakes a sleeper (info() copies the
// membership). A member of a configuration still being adopted may be
// refused here: the replica then wakes itself on the message, as wake(0).
bool GroupSet::State::admissible(Group& g, const Message& msg) const {
  return msg.to == options.self && g.replica.info().membership.is_member(msg.from);
}

void GroupSet::State::route(const Message& in) {
  // The planted bug: some accepts (one slot in five) reach the next group.
  // Only those are copied: an accept carries a whole batch of commands.
  std::optional<Message> misrouted;
  if (bug == PlantedBug::deliver_to_wrong_group && in.type == MessageType::accept &&
      !in.entries.empty() && in.entries.front().slot.value % 5 == 0) {
    GroupId wrong = other_group(groups, in.group);
    if (wrong.value != 0) {
      misrouted = in;
      misrouted->group = wrong;
    }
  }
  const Message& msg = misrouted ? *misrouted : in;
  Group* g = group(msg.group);
  if (!g) {
    ++stats.unknown_group;
    return;
  }
  bool was_asleep = g->replica.quiesced();
  NodeId leader = g->replica.leader();
  // A sleeper decides itself whether a message confirms its sleep (an ack of
  // its quiesce heartbeat, the quiesce heartbeat again) or wakes it, and a
  // probe from the leader it sleeps under wakes it as leaderless. Anything
  // else from another node wakes a follower anyway: it is woken first here
  // with how long its leader's node has been quiet, which the replica cannot
  // know. Only a message the replica admits does so (addressed here, from a
  // member): a node that is no member of the group, or a stale frame, must
  // not rouse it (the replica drops such a message without waking); nor
  // must what the replica answers asleep (Replica::wakes_on: a catch-up
  // request, a probe it refuses, a stale probe reply).
  if (was_asleep && leader != options.self && msg.from != leader && admissible(*g, msg) &&
      g->replica.wakes_on(msg))
    wake(*g, silence(leader));
  g->replica.step(msg);
  mark_dirty(*g);
  if (!g->replica.quiesced()) {
    if (was_asleep) ++stats.wakes_needed;
    unfile(*g);
    list_awake(*g);
  } else if (!g->filed_asleep) {
    list_awake(*g);  // fell asleep on it: filed at the next tick
  }
}

void GroupSet::step(NodeId from, const Message& msg) {
  State& s = *state_;
  if (from.valid() && from != s.options.self) s.peer(from).heard_at = s.now;
  if (msg.type == MessageType::node_heartbeat) {
    if (!s.acceptable(from, msg)) {
      ++s.stats.malformed;
      return;
    }
    s.on_node_heartbeat(from, msg);
    return;
  }
  // The sender is the transport's: a frame naming another is not routed.
  if (msg.from != from) {
    ++s.stats.malformed;
    return;
  }
  s.route(msg);
}

void GroupSet::send(Message msg, std::vector<Message>& now) {
  State& s = *state_;
  if (!coalesced(msg.type) || msg.to == s.options.self || !msg.to.valid()) {
    now.push_back(std::move(msg));
    return;
  }
  s.peer(msg.to).held.push_back(
      GroupBeat{msg.type, msg.group, msg.ballot, msg.slot, msg.commit, msg.quiesce});
  ++s.stats.beats_coalesced;
}

void GroupSet::flush(std::vector<Message>& out) {
  State& s = *state_;
  for (auto& [id, p] : s.peers) {
    NodeId to{id};
    bool due = !p.beat_sent || s.now >= p.beat_sent_at + s.options.heartbeat_ticks;
    if (p.held.empty() && !(due && s.peer_nodes.count(to))) continue;
    std::size_t at = 0;
    do {
      std::size_t n = std::min(kBeatsPerMessage, p.held.size() - at);
      Message m;
      m.type = MessageType::node_heartbeat;
      m.from = s.options.self;
      m.to = to;
      m.slot = Slot{s.options.incarnation};
      m.beats.assign(p.held.begin() + static_cast<std::ptrdiff_t>(at),
                     p.held.begin() + static_cast<std::ptrdiff_t>(at + n));
      out.push_back(std::move(m));
      ++s.stats.node_heartbeats_sent;
      at += n;
    } while (at < p.held.size());
    p.held.clear();
    p.beat_sent = true;
    p.beat_sent_at = s.now;
  }
}

}  // namespace synod
