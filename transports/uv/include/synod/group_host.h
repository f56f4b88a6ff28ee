// A ready-made libuv host for many Paxos groups on one node (docs/groups.md):
// one loop, one Transport (one connection per peer pair carrying every
// group's frames), one tick timer and one synod::GroupSet (node heartbeats,
// node liveness, quiescence, routing) for all the groups. Groups are added
// and removed at run time, each with its own state machine hooks. Storage is
// a MemoryStorage per group, or one GroupLog for all the groups persisted on
// a background thread with group commit (one fdatasync per batch across
// groups). Every few seconds the host hands the groups it leads beyond its
// share (ceil(groups / live nodes)) to members on nodes that lead fewer.
//
// Each group's Ready loop is the one UvHost runs (replica_driver.h). Only
// the groups GroupSet names dirty are looked at in an iteration, so idle
// groups cost nothing: no timer, file or descriptor per group, and no
// per-tick scan of them.
//
// Threading: every call on the loop's thread. Lifetime: stop(), run the loop
// until it is idle, then destroy. The transport (and the GroupLog) are the
// caller's and must outlive the host.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "synod/group_log.h"
#include "synod/group_log_writer.h"
#include "synod/group_set.h"
#include "synod/replica.h"
#include "synod/transport.h"
#include "synod/wire.h"

namespace synod {

namespace detail {
class LoopWake;
}
class ReplicaDriver;
struct IterationWork;

// One group: its configuration and its state machine's hooks, with the
// meaning they have in UvHostOptions.
struct GroupOptions {
  // config.group names the group; config.id must be the host's self, and
  // heartbeat_ticks and election_ticks the host's. quiesce is forced on.
  Config config;
  std::function<std::string(Slot slot, std::string_view command)> apply;
  std::function<void(const Snapshot& snapshot)> restore;
  std::uint64_t snapshot_every_slots = 0;
  std::uint64_t snapshot_every_bytes = 0;
  std::function<std::string()> snapshot;
  std::function<void(Slot slot)> snapshot_begin;
  // The group's membership, at add_group() and at each change.
  std::function<void(const Membership& membership)> on_membership;
};

struct GroupHostOptions {
  NodeId self{};
  std::uint64_t tick_ms = 10;
  // Every group's Config must use these (GroupSet sends node heartbeats
  // and judges node liveness with them).
  std::uint32_t heartbeat_ticks = 1;
  std::uint32_t election_ticks = 10;
  wire::WireLimits limits;
  // Null: each group keeps its state in its own MemoryStorage (lost at a
  // restart). Set: every group's state goes into this one log, persisted on
  // a GroupLogWriter thread; a group added with an id the log holds
  // recovers from it.
  GroupLog* log = nullptr;
  // Leader balancing: every balance_ms, surplus leaderships are transferred
  // (at most balance_transfers_max per round). 0: never.
  std::uint64_t balance_ms = 3000;
  std::size_t balance_transfers_max = 64;
  // At most this many commands applied per loop iteration, all groups
  // together (UvHostOptions::apply_per_iteration).
  std::uint64_t apply_per_iteration = 16384;
  // A tick timer this much late, or a Ready pass over the dirty groups
  // this long, is a loop stall: counted (GroupHostStats) and logged at most
  // once a second with its duration. A late timer ticks the groups as
  // GroupSet::tick(periods) says (a lease never outlives real time). 0: not
  // watched (late timers are still ticked right).
  std::uint64_t stall_ms = 50;
  // Host messages (send_host_message) from a peer node, on the loop's
  // thread. The peer link authenticated the sender (mutual TLS when
  // configured); the bytes are whatever that host sent, so check them.
  // Unset: host messages are counted as host_messages_dropped.
  std::function<void(NodeId from, std::string_view payload)> on_host_message;
  // Where errors and group failures are reported; stderr when empty.
  std::function<void(std::string_view)> log_line;
};

struct GroupHostStats {
  GroupSetStats groups;
  std::uint64_t ticks = 0;
  std::uint64_t ready_runs = 0;          // a group's Ready loop run (dirty groups only)
  std::uint64_t apply_deferred = 0;      // the apply budget sent work to the next iteration
  std::uint64_t bad_frames = 0;          // undecodable, or from a node other than the sender
  std::uint64_t groups_failed = 0;       // groups stopped by an error (a missing restore hook)
  std::uint64_t balance_rounds = 0;      // balancing checks run
  std::uint64_t leaders_handed_off = 0;  // transfer_leadership calls made by balancing
  std::uint64_t log_batches = 0;         // GroupLog syncs (one fdatasync each), with a GroupLog
  std::uint64_t log_writes = 0;          // group writes in them
  std::uint64_t loop_stalls = 0;         // see GroupHostOptions::stall_ms
  std::uint64_t longest_stall_ms = 0;
  std::uint64_t host_messages_sent = 0;
  std::uint64_t host_messages_received = 0;  // handed to on_host_message
  std::uint64_t host_messages_dropped = 0;   // no handler, or not started
};

class GroupHost {
 public:
  using Done = std::function<void(const ProposalOutcome& outcome, const std::string& result)>;
  using ReadDone = std::function<void(Status status, NodeId leader_hint)>;

  GroupHost(uv_loop_t* loop, Transport& transport, GroupHostOptions options);
  ~GroupHost();
  GroupHost(const GroupHost&) = delete;
  GroupHost& operator=(const GroupHost&) = delete;

  // Validates the options, starts the transport, the tick timer and (with
  // a GroupLog) the writer thread. invalid_config with *why.
  Status start(std::string* why = nullptr);
  // Stops ticking and stepping; pending proposals end unknown. Does not
  // stop the transport.
  void stop();

  // Adds a group (recovered from the GroupLog when it holds it).
  // invalid_config (*why says) for a bad config, invalid_argument when the
  // group is here, unavailable when not started.
  Status add_group(GroupOptions group, std::string* why = nullptr);
  // Drops the group: its pending proposals end unknown, its replica goes,
  // and with a GroupLog its records are forgotten. invalid_argument when it
  // is not here. busy when called from a callback of a group's Ready loop
  // (apply, a Done or ReadDone, on_membership, the snapshot hooks): the
  // driver on the stack would be destroyed under it; remove it from a later
  // turn of the loop instead.
  Status remove_group(GroupId group);
  std::vector<GroupId> groups() const;

  // Per group, as UvHost's calls of the same names; a group not here is
  // invalid_argument.
  ProposeResult propose(GroupId group, std::string_view command, Done done);
  ProposeResult read(GroupId group, ReadDone done);
  ProposeResult change_membership(GroupId group, MembershipOp op, NodeId node, Done done);
  Status transfer_leadership(GroupId group, NodeId to);
  // Starts an election in the group now (Replica::campaign): to place a
  // new group's first leader.
  Status campaign(GroupId group);
  Status compact(GroupId group, Slot slot, std::string data);
  void snapshot_abandoned(GroupId group);

  // Sends opaque bytes to the host of node `to` over the peer link, for a
  // protocol above consensus (docs/groups.md, "Host messages"). Best effort,
  // as every peer frame: lost when the link is down, so the protocol must
  // resend. invalid_argument when the payload exceeds the frame limit or
  // `to` is this node, unavailable when not started or the peer is unknown.
  Status send_host_message(NodeId to, std::string payload);

  // The group's replica, or nullopt when it is not here.
  std::optional<ReplicaInfo> info(GroupId group) const;
  // Whether the group's replica sleeps (Replica::quiesced); false when it
  // is not here.
  bool quiesced(GroupId group) const;
  // Groups this node leads now (a scan of every group: not per request).
  std::size_t leading() const;
  GroupHostStats stats() const;
  // True after a GroupLog failure: every group stopped.
  bool failed() const { return failed_; }

  struct Group;

 private:
  void log(std::string_view line) const;
  Group* find(GroupId group) const;
  void on_frame(NodeId from, std::span<const std::uint8_t> frame);
  void on_host_message(NodeId from, const Message& m);
  void on_tick();
  void note_stall(std::uint64_t ns, const char* what);
  void catch_up_clock();
  void schedule();
  void run_ready();
  void send_now(const Message& m);
  void send_out();
  void encode_and_send(const Message& m);
  void on_durable();
  void fail_group(GroupId group, std::string_view why);
  void fail_all(std::string_view why);
  void close_handles();
  void membership_changed(GroupId group, const Membership& before, const Membership& after);
  // Leader balancing (group_host_balance.cc).
  void balance();
  std::vector<NodeId> live_nodes() const;

  uv_loop_t* loop_;
  Transport& transport_;
  GroupHostOptions opt_;
  std::unique_ptr<GroupSet> set_;
  std::unique_ptr<IterationWork> work_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Group>> groups_;
  uv_timer_t* tick_timer_ = nullptr;
  uv_timer_t* balance_timer_ = nullptr;
  uv_idle_t* idle_ = nullptr;  // active while a Ready may be pending
  bool scheduled_ = false;
  bool started_ = false;
  bool failed_ = false;
  // Ready loops (ReplicaDriver::run, finish_durable) on the stack now: their
  // callbacks may call back in, and must not remove a group.
  int driving_ = 0;
  std::vector<GroupId> dirty_;     // reused: GroupSet::take_dirty
  std::vector<GroupId> runnable_;  // groups to run again (budget, durable, new)
  std::vector<GroupId> failing_;   // groups to drop after the Ready loop
  std::vector<Message> now_;       // reused: GroupSet::send
  // Peer nodes: how many groups each is a member of (GroupSet's peers).
  std::unordered_map<std::uint64_t, std::size_t> member_of_;
  // Node liveness for balancing: when each peer node was last heard.
  std::unordered_map<std::uint64_t, std::uint64_t> heard_ns_;
  std::uint64_t ticks_ = 0;
  std::uint64_t ready_runs_ = 0;
  std::uint64_t bad_frames_ = 0;
  // Bad frames are logged at most once a second (peer_frame.h).
  std::uint64_t bad_frame_log_ns_ = 0, bad_frames_unlogged_ = 0;
  std::uint64_t groups_failed_ = 0;
  std::uint64_t balance_rounds_ = 0;
  std::uint64_t leaders_handed_off_ = 0;
  std::uint64_t last_tick_ns_ = 0;
  std::uint64_t loop_stalls_ = 0, longest_stall_ms_ = 0;
  std::uint64_t stall_log_ns_ = 0, stalls_unlogged_ = 0;
  std::uint64_t host_messages_sent_ = 0;
  std::uint64_t host_messages_received_ = 0;
  std::uint64_t host_messages_dropped_ = 0;

  // With a GroupLog: the writer thread and its report to the loop.
  std::unique_ptr<GroupLogWriter> writer_;
  detail::LoopWake* durable_wake_ = nullptr;  // the writer wakes the loop (loop_wake.h)
  std::atomic<std::uint64_t> durable_{0};
  std::atomic<Status> writer_status_{Status::ok};
  std::vector<GroupId> staged_groups_;  // groups with Readys waiting to be durable
  // Removals handed to the writer and maybe not yet durable: group -> the
  // removal's sequence. A group added again with such an id waits for it,
  // or it would recover the removed group's state.
  std::unordered_map<std::uint64_t, std::uint64_t> removing_;
};

}  // namespace synod
