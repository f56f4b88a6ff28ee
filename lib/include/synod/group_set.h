// One node's Paxos groups and what they share, with no I/O: the pure piece
// behind synod::GroupHost, for hosts that run many groups on their own loop
// (docs/groups.md). It owns one Replica per group and adds, between them and
// the transport:
//   - node heartbeats: one message per peer node per heartbeat period,
//     carrying every group heartbeat (and ack) the replicas produced since
//     the last flush, so thousands of groups cost one message per peer pair;
//   - node-level liveness: the last tick each peer node was heard from, and
//     its incarnation (a restarted node leads nothing it led before);
//   - quiescence: idle groups sleep (Config::quiesce, forced on here), are
//     not ticked, and are woken when their leader's node falls silent for an
//     election timeout or restarts, or when a message or call needs them;
//   - routing: a frame's message goes to its group, or is dropped and
//     counted when the group is not here.
// Threading: one thread at a time, as Replica.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "synod/config.h"
#include "synod/message.h"
#include "synod/replica.h"
#include "synod/status.h"
#include "synod/storage.h"
#include "synod/types.h"

namespace synod {

struct GroupSetOptions {
  NodeId self{};
  // Ticks between node heartbeats to each peer node. Every group added must
  // use the same heartbeat_ticks and election_ticks as these.
  std::uint32_t heartbeat_ticks = 1;
  // A peer node silent for this many ticks is taken as down: the sleeping
  // followers of the groups it leads wake and elect, staggered over one
  // election timeout.
  std::uint32_t election_ticks = 10;
  // This start of the process; carried in node heartbeats so peers tell a
  // restart from a pause. Draw one per start (synod/seed.h, startup_seed()).
  std::uint64_t incarnation = 0;
  // ok, or invalid_config with *why naming the setting.
  Status validate(std::string* why) const;
};

struct GroupSetStats {
  std::size_t groups = 0;
  std::size_t sleeping = 0;  // groups quiesced now
  std::uint64_t node_heartbeats_sent = 0;
  std::uint64_t node_heartbeats_received = 0;
  std::uint64_t beats_coalesced = 0;  // group heartbeats and acks carried in them
  // Wakes by cause: a message or call needed the group; its leader's node
  // fell silent for an election timeout; that node restarted.
  std::uint64_t wakes_needed = 0;
  std::uint64_t wakes_leader_silent = 0;
  std::uint64_t wakes_leader_restarted = 0;
  // Messages dropped because their group is not here (removed, not yet
  // added, or a stranger's); node heartbeats that broke a rule, and
  // messages whose from is not the transport's sender.
  std::uint64_t unknown_group = 0;
  std::uint64_t malformed = 0;
  // Late timers: tick periods that passed without a tick (tick(periods)),
  // summed over the awake groups' replicas.
  std::uint64_t ticks_skipped = 0;
};

class GroupSet {
 public:
  explicit GroupSet(GroupSetOptions options);  // precondition: validate() ok
  ~GroupSet();
  GroupSet(const GroupSet&) = delete;
  GroupSet& operator=(const GroupSet&) = delete;

  // Adds a group: constructs its Replica from config (config.id must be
  // self; quiesce is forced on) and storage (read here only, as Replica).
  // invalid_config (with *why) for a bad config or one whose timing differs
  // from the options; invalid_argument when the group is here already.
  Status add(Config config, const Storage& storage, std::string* why = nullptr);
  // Drops the group and its replica; invalid_argument when it is not here.
  Status remove(GroupId group);
  // The group's replica, or null. A call on it that can produce a Ready
  // (propose, read, ...) must be followed by touch(group).
  Replica* find(GroupId group);
  void touch(GroupId group);
  std::size_t size() const;
  std::vector<GroupId> groups() const;

  // The peer nodes to send node heartbeats to (every node that holds a
  // replica of one of these groups, self excluded). The host keeps it in
  // step with the groups' memberships.
  void set_peers(std::vector<NodeId> nodes);

  // One tick of the node's timer: ticks the awake replicas, wakes sleeping
  // followers whose leader's node is silent or restarted, and makes a node
  // heartbeat due every heartbeat_ticks.
  //
  // `periods`: tick periods of real time since the last call (a late timer:
  // the loop was busy or the process was stopped). Followers and candidates
  // tick once, and node liveness advances one tick: an election clock may
  // run slow, never fast, since heartbeats may wait unread in the sockets.
  // Leaders tick up to heartbeat_ticks of the missed periods (the heartbeat
  // due goes out), and with Config::lease_reads up to election_ticks: a
  // lease must never outlive real time (docs/protocol.md, "Lease reads";
  // UvHost does the same). Periods not ticked are counted ticks_skipped.
  void tick(std::uint64_t periods = 1);
  // A message from peer node `from` (the transport's identity, never read
  // from the frame). A node heartbeat is expanded into its groups'
  // heartbeats and acks; every other message goes to its group. A sleeping
  // follower is woken first with the silence of its leader's node when the
  // message is one its replica admits (addressed here, from a member of the
  // group), unless it comes from that leader: the replica itself tells whether it
  // confirms its sleep (an ack or the quiesce heartbeat again) or wakes it,
  // as a sleeping leader does with acks.
  void step(NodeId from, const Message& msg);

  // The groups that may have a Ready since the last call (ticked, stepped,
  // woken or touched), each once. The host calls has_ready()/ready() on
  // these only, so idle groups cost nothing.
  void take_dirty(std::vector<GroupId>& out);

  // Outgoing: the host hands every message of every Ready here instead of
  // sending it. Heartbeats and their acks are held for the next flush();
  // anything else is appended to `now` to send at once.
  void send(Message msg, std::vector<Message>& now);
  // The node heartbeats to send: one per peer node holding what send() held
  // since the last flush, or an empty one (liveness only) when a heartbeat
  // period passed. Call once per loop iteration, after the Ready loop.
  void flush(std::vector<Message>& out);

  GroupSetStats stats() const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace synod
