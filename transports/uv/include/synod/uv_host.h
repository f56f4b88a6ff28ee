// A ready-made libuv host: runs a Replica with a Storage and a Transport on a
// uv_loop_t the user owns, for those who do not want to write the Ready loop.
// It ticks on a timer, decodes frames from the transport into steps, and runs
// the Ready loop once per loop iteration (so proposals made in one iteration
// share slots): persist (sync when asked), send, apply, answer proposers.
//
// Threading: every call on the loop's thread. Lifetime: stop(), run the loop
// until it is idle, then destroy. Storage and transport are the caller's and
// must outlive the host.
#pragma once

#include <uv.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "synod/log_storage.h"
#include "synod/log_writer.h"
#include "synod/replica.h"
#include "synod/storage.h"
#include "synod/transport.h"
#include "synod/wire.h"

namespace synod {

struct UvHostOptions {
  Config config;
  std::uint64_t tick_ms = 10;
  wire::WireLimits limits;
  // Applies one committed command, in log order; returns the result handed
  // to the proposer's callback (when the command was proposed here). The
  // view points into the batch's block (synod/value.h) and is valid only
  // during the call: copy what must outlive it.
  std::function<std::string(Slot slot, std::string_view command)> apply;
  // Optional: called with a committed batch's commands right before `apply`
  // is called for each of them, in order (a batch may be cut short by a
  // membership change or restore in between). For a state machine whose
  // applies miss the cache: it may start the loads they need (prefetch) so
  // that a batch's misses overlap. Must not change the state. The view, as
  // apply's, is valid only during the call.
  std::function<void(CommandsView commands)> before_apply;
  // Replaces the whole state machine with a snapshot's data: one received
  // from a peer (this replica was too far behind for entries), or the stored
  // one at start. Needed once anything compacts (a peer's compaction too).
  std::function<void(const Snapshot& snapshot)> restore;
  // Automatic compaction: once this many slots, or this many command bytes,
  // were applied since the last snapshot, the host calls `snapshot` (on the
  // loop, right after applying) and hands its image to Replica::compact.
  // 0: no such trigger (both 0: compact() by hand only).
  std::uint64_t snapshot_every_slots = 0;
  std::uint64_t snapshot_every_bytes = 0;
  std::function<std::string()> snapshot;
  // Background snapshots: when set, the automatic trigger calls this with
  // the slot the state machine is at (instead of `snapshot`), and the host
  // takes no other automatic snapshot until the caller hands the image of
  // exactly that slot to compact(), or calls snapshot_abandoned(). The image
  // is then taken off the loop (a fork, a worker thread on a frozen view)
  // and the loop never stalls for O(state) work.
  std::function<void(Slot slot)> snapshot_begin;
  // The membership (synod/membership.h): called once at start() with the one
  // the replica recovered, then whenever a newly chosen configuration changes
  // it (Ready::membership), after the Ready's commands are applied. A host
  // with a TcpTransport calls set_peers here, so it connects to new members
  // and drops removed ones.
  std::function<void(const Membership& membership)> on_membership;
  // Where errors, role changes and loop stalls are reported; stderr when
  // empty.
  std::function<void(std::string_view)> log;
  // A loop iteration busy for longer than this, or the tick timer firing
  // this much late, is a loop stall: counted (UvHostStats) and logged with
  // its duration and cause. 0: not watched.
  std::uint64_t stall_ms = 50;
  // At most this many commands applied per loop iteration: the rest wait
  // for the next iteration, so heartbeats, acks and ticks are never held
  // behind a long catch-up (a Ready is applied whole, so one large Ready may
  // exceed it).
  std::uint64_t apply_per_iteration = 16384;
  // With HostStorage::log_writer: apply a Ready's committed commands, and
  // answer their proposers, as soon as the Ready is staged instead of once
  // its own write is durable (docs/protocol.md, "Durability": a committed
  // slot is already durable on a majority). A leader's commit usually
  // arrives in the Ready that carries the next batch's entries, so this
  // takes one fdatasync off every answer. Leave it off when the state
  // machine survives restarts (Config::applied): it could then be ahead of
  // the local log after a crash.
  bool apply_before_durable = false;
  // With HostStorage::log_writer: while this replica follows, a Ready is
  // written and synced on the loop when the writer thread is idle, instead
  // of by the writer thread (a follower sends nothing before the sync, so
  // the thread buys it nothing but two wake-ups per batch). The loop then
  // waits for the fdatasync; a leader or candidate uses the writer (but see
  // sole_voter_syncs_on_loop). UvHostStats::synced_on_loop counts them.
  bool follower_syncs_on_loop = false;
  // With HostStorage::log_writer: while this replica leads as the only
  // voter (a one-node cluster), it too writes and syncs each Ready on the
  // loop when the writer is idle. Nothing can commit its batch but its own
  // sync, so the loop loses nothing by waiting for it, and the commands that
  // arrive meanwhile go in the next sync together (one sync per loop
  // iteration, as Redis's appendfsync always) rather than a sync for every
  // few of them. A leader with other voters always uses the writer.
  bool sole_voter_syncs_on_loop = false;
};

// What the host saw of its replica and its loop, for INFO and the like.
struct UvHostStats {
  // Campaigns this replica began: each new ballot it became candidate with.
  std::uint64_t elections_started = 0;
  // Times the known leader became another node (the first one learnt after
  // start is not a change; nor is a leader lost and heard again).
  std::uint64_t leader_changes = 0;
  // Loop iterations busy for longer than UvHostOptions::stall_ms, or tick
  // timer firings that late; the longest one seen, in milliseconds.
  std::uint64_t loop_stalls = 0;
  std::uint64_t longest_stall_ms = 0;
  // Readys this replica synced on its loop (UvHostOptions::
  // follower_syncs_on_loop, sole_voter_syncs_on_loop).
  std::uint64_t synced_on_loop = 0;
  // Timer periods that passed without a tick: a late timer ticks a
  // follower once (its clock runs slow rather than time out a leader whose
  // heartbeats wait unread in its socket); a leader ticks up to a
  // heartbeat period of them (every one, up to an election timeout, with
  // lease reads), so its heartbeats and lease keep to real time.
  std::uint64_t ticks_skipped = 0;
  // Times the apply_per_iteration limit sent the rest of the committed
  // commands to the next loop iteration.
  std::uint64_t apply_deferred = 0;
  // Frames dropped before the replica: undecodable, or naming another
  // sender than the peer the transport knows. Logged at most once a second.
  std::uint64_t bad_frames = 0;
};

// Where a host persists Readys, and how.
class HostStorage {
 public:
  // Each Ready is saved and synced on the loop thread (fine for
  // MemoryStorage; a disk's fdatasync stalls the loop).
  static HostStorage on_loop(Storage& storage) { return HostStorage(&storage, nullptr); }
  // Group commit on a LogWriter thread: the loop never waits for the disk,
  // one fdatasync covers every Ready staged meanwhile, and each Ready's
  // messages leave (and its entries apply) once it is durable.
  static HostStorage log_writer(LogStorage& log) { return HostStorage(&log, &log); }
  Storage& storage() const { return *storage_; }
  LogStorage* log() const { return log_; }  // null: on the loop

 private:
  HostStorage(Storage* storage, LogStorage* log) : storage_(storage), log_(log) {}
  Storage* storage_;
  LogStorage* log_;
};

namespace detail {
class LoopWake;
}
class ReplicaDriver;
struct IterationWork;

class UvHost {
 public:
  // The outcome of a proposal, with the apply result when committed.
  using Done = std::function<void(const ProposalOutcome& outcome, const std::string& result)>;

  // Persists each Ready on the loop thread: HostStorage::on_loop(storage).
  UvHost(uv_loop_t* loop, Storage& storage, Transport& transport, UvHostOptions options);
  // The persistence mode chosen explicitly (HostStorage).
  UvHost(uv_loop_t* loop, HostStorage storage, Transport& transport, UvHostOptions options);
  // A LogStorage must say how it is persisted (HostStorage::log_writer, or
  // on_loop): no silent choice by overload.
  UvHost(uv_loop_t* loop, LogStorage& log, Transport& transport, UvHostOptions options) = delete;
  ~UvHost();
  UvHost(const UvHost&) = delete;
  UvHost& operator=(const UvHost&) = delete;

  // Validates the config, recovers the replica from storage, starts the
  // transport and the tick timer.
  Status start(std::string* why = nullptr);
  // Stops ticking and stepping; pending proposals end unknown. Does not stop
  // the transport (the caller owns it).
  void stop();

  // Queues a command; `done` is called exactly once, from the loop. A refusal
  // (not_leader with a hint, overloaded, ...) is returned at once and `done`
  // is not called. The command is copied into its batch at once: the
  // caller's bytes need to live only for the call.
  ProposeResult propose(std::string_view command, Done done);

  // A linearizable read (ReadIndex): `done(ok, {})` is called once every slot
  // the leader had committed when asked is applied here, so the caller can
  // read its state machine; `done(not_leader, hint)` if leadership ended
  // first. A refusal is returned at once and `done` is not called.
  using ReadDone = std::function<void(Status status, NodeId leader_hint)>;
  ProposeResult read(ReadDone done);

  // A membership change (Replica::change_membership), leader only: `done` is
  // called exactly once, from the loop, as for propose() (committed once the
  // new configuration is chosen; the result string is empty). A refusal
  // (not_leader with a hint, busy, invalid_argument) is returned at once and
  // `done` is not called. add_voter commits as soon as the node is a learner;
  // the leader promotes it later by itself (on_membership tells).
  ProposeResult change_membership(MembershipOp op, NodeId node, Done done);

  // Leadership transfer (Replica::transfer_leadership): ok once started; the
  // target campaigns when it holds every slot in flight. not_leader,
  // unknown_peer as the replica says; unavailable when stopped.
  Status transfer_leadership(NodeId to);

  // Hands the state machine's image after applying every slot up to `slot`
  // to Replica::compact (for hosts that snapshot by hand or in the
  // background). invalid_argument as Replica::compact says.
  Status compact(Slot slot, std::string data);
  // The background snapshot asked by snapshot_begin will not come: the
  // automatic trigger may ask again.
  void snapshot_abandoned();
  // The slot the state machine reached (applied or restored).
  Slot applied() const;

  ReplicaInfo info() const;
  const UvHostStats& stats() const { return stats_; }
  // True after a storage failure: the replica stopped (docs/embedding.md, the Ready loop).
  bool failed() const { return failed_; }
  Replica* replica() { return replica_ && !failed_ ? &*replica_ : nullptr; }

 private:
  void log(std::string_view line) const;
  void on_frame(NodeId from, std::span<const std::uint8_t> frame);
  void schedule();
  void run_ready();
  Status persist(const Ready& rd);
  void send_one(const Message& m);
  void fail(std::string_view why);
  void on_durable();
  void close_handles();
  // Loop and role watching (uv_host_watch.cc).
  void on_tick_timer();
  void on_iteration_end();
  void observe_role();

  uv_loop_t* loop_;
  Storage& storage_;
  Transport& transport_;
  UvHostOptions opt_;
  std::optional<Replica> replica_;
  std::unique_ptr<IterationWork> work_;
  std::unique_ptr<ReplicaDriver> driver_;  // the Ready loop; with replica_
  uv_timer_t* tick_timer_ = nullptr;
  uv_idle_t* idle_ = nullptr;  // active while a Ready may be pending
  bool scheduled_ = false;
  bool failed_ = false;

  // Watching (uv_host_watch.cc).
  UvHostStats stats_;
  uv_prepare_t* prepare_ = nullptr;    // runs once per iteration, before the poll
  std::uint64_t last_prepare_ns_ = 0;  // uv_hrtime() at the last prepare
  std::uint64_t last_idle_ns_ = 0;     // uv_metrics_idle_time() then
  std::uint64_t last_cpu_ns_ = 0;      // the loop thread's CPU time then
  std::uint64_t last_tick_ns_ = 0;     // uv_hrtime() at the last tick
  std::uint64_t tick_late_ns_ = 0;     // the latest tick's lateness, this iteration
  std::uint64_t stalls_unlogged_ = 0;  // stalls since the last logged one
  std::uint64_t bad_frame_log_ns_ = 0, bad_frames_unlogged_ = 0;
  std::uint64_t last_stall_log_ns_ = 0;
  Role seen_role_ = Role::follower;
  Ballot seen_ballot_{};
  NodeId seen_leader_{};  // the last valid leader known

  // Asynchronous persistence (HostStorage::log_writer).
  LogStorage* log_ = nullptr;
  std::unique_ptr<LogWriter> writer_;
  detail::LoopWake* durable_wake_ = nullptr;  // the writer wakes the loop (loop_wake.h)
  std::atomic<std::uint64_t> durable_{0};
  std::atomic<Status> writer_status_{Status::ok};
};

}  // namespace synod
