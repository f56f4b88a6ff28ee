// One replica's Ready handling, shared by UvHost (one group) and GroupHost
// (many): persist each Ready (on the loop, or staged with a background
// writer and finished once durable), send its messages, apply its commands
// within the loop iteration's budget, answer proposers and reads, take
// automatic snapshots (inline or forked via snapshot_begin), restore
// received snapshots and report membership changes (docs/embedding.md, the
// Ready loop). The host owns the replica, the loop and the transport; the
// driver only needs the few things below. In-tree only, not installed.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "applied_queue.h"
#include "synod/membership.h"
#include "synod/ready.h"
#include "synod/replica.h"
#include "synod/snapshot.h"
#include "synod/storage.h"
#include "ticket_queue.h"

namespace synod {

// What the state machine of one group plugs in (UvHostOptions and
// GroupOptions fill it).
struct ReplicaHooks {
  std::function<std::string(Slot slot, std::string_view command)> apply;
  std::function<void(const Snapshot& snapshot)> restore;
  std::uint64_t snapshot_every_slots = 0;
  std::uint64_t snapshot_every_bytes = 0;
  std::function<std::string()> snapshot;
  std::function<void(Slot slot)> snapshot_begin;
  std::function<void(const Membership& membership)> on_membership;
  // Staged persistence only: apply a Ready's committed commands and answer
  // their proposers when it is staged, not once it is durable
  // (UvHostOptions::apply_before_durable).
  bool apply_before_durable = false;
  std::function<void(CommandsView commands)> before_apply{};
};

// Busy time and work of the current loop iteration, by cause, shared by
// every driver of a host (the per-iteration apply budget is the host's, not
// a group's) and reset by the host once per iteration. The host times the
// whole Ready loop into apply_ns (persisting included) and stepping into
// step_ns; the drivers add the rest.
struct IterationWork {
  std::uint64_t apply_per_iteration = 0;  // 0: unbounded
  std::uint64_t applied = 0;
  std::uint64_t sent = 0, sent_bytes = 0;
  std::uint64_t apply_ns = 0, snapshot_ns = 0, send_ns = 0, step_ns = 0;
  std::uint64_t apply_deferred = 0;  // times the budget sent work to the next iteration
  std::uint64_t synced_on_loop = 0;  // Readys synced on the loop (sync_here)
  bool budget_left() const { return apply_per_iteration == 0 || applied < apply_per_iteration; }
};

// How the host persists a Ready: on the loop (persist) or staged with a
// background writer (submit returns the sequence to wait for; 0 = nothing
// written), finished when the host calls finish_durable with that sequence.
// A Ready whose must_sync is false (and has no snapshot) waits only for the
// Readys before it, not for its own sequence: a writer may leave its writes
// to the next sync (LogWriter::submit_unsynced).
struct ReplicaPersistence {
  std::function<Status(const Ready& rd)> persist;                          // set: on the loop
  std::function<Status(const Ready& rd, std::uint64_t* sequence)> submit;  // set: staged
  // Optional, with submit: writes and syncs a Ready on the loop when the
  // writer is idle (*synced false: it was not; submit then), for the roles
  // below (UvHostOptions::follower_syncs_on_loop, sole_voter_syncs_on_loop).
  std::function<Status(const Ready& rd, bool* synced)> sync_here;
  bool followers_sync_here = false;
  bool sole_voter_syncs_here = false;
};

class ReplicaDriver {
 public:
  using Done = std::function<void(const ProposalOutcome& outcome, const std::string& result)>;
  using ReadDone = std::function<void(Status status, NodeId leader_hint)>;
  // Sends one message of a Ready (the host encodes, or coalesces, it).
  using Send = std::function<void(const Message& m)>;
  // A fatal error of this replica (storage, a missing restore hook).
  using Fail = std::function<void(std::string_view why)>;
  using Log = std::function<void(std::string_view line)>;

  ReplicaDriver(Replica& replica, Slot applied, ReplicaHooks hooks, ReplicaPersistence persistence,
                IterationWork& work, Send send, Fail fail, Log log);

  // Runs the Ready loop while the replica has one and the iteration's budget
  // lasts; returns false when the budget ran out with work left (the host
  // runs it again next iteration).
  bool run();
  // Finishes the staged Readys whose sequence is durable; false when the
  // budget ran out with some left.
  bool finish_durable(std::uint64_t durable);
  bool has_staged() const { return !staged_.empty(); }

  ProposeResult propose(std::string_view command, Done done);
  ProposeResult read(ReadDone done);
  ProposeResult change_membership(MembershipOp op, NodeId node, Done done);
  Status compact(Slot slot, std::string data);
  void snapshot_abandoned() { snapshot_pending_ = false; }
  Slot applied() const { return applied_; }
  // Reports the membership if it changed since the last report (start).
  void report_membership(const Membership& m);
  // Ends every pending proposal (unknown) and read (unavailable).
  void abandon();

 private:
  bool persist_or_stage(Ready& rd);
  bool syncs_here(const Ready& rd) const;
  bool only_voter(const Membership& m) const;
  // staged_answered: null unless the Ready was applied when staged (its
  // committed outcomes answered, as flagged).
  void finish(const Ready& rd, bool early_sent, const std::vector<bool>* staged_answered);
  void maybe_snapshot();
  void apply_committed(const Ready& rd, std::vector<bool>* answered);
  bool may_apply_early(const Ready& rd) const;
  void take_reads(const Ready& rd);
  void serve_ready_reads();
  void apply_and_answer(const Ready& rd, std::vector<bool>* answered);
  void answer(const ProposalOutcome& o, const std::string& result);
  void send_timed(const Message& m);

  struct Staged {
    Ready rd;
    std::uint64_t sequence = 0;  // finish once durable reaches it
    bool applied = false;        // applied when staged (apply_before_durable)
    std::vector<bool> answered;  // then: which outcomes were answered
  };

  Replica& replica_;
  ReplicaHooks hooks_;
  ReplicaPersistence persistence_;
  IterationWork& work_;
  Send send_;
  Fail fail_;
  Log log_;
  bool failed_ = false;
  detail::TicketQueue<Done> waiting_;           // ticket -> callback
  detail::TicketQueue<ReadDone> reads_;         // ticket -> callback, until confirmed
  detail::AppliedQueue<ReadDone> ready_reads_;  // confirmed; by index to reach
  Slot applied_{};
  Slot applied_at_snapshot_{};  // the slot of the last snapshot
  NodeId self_{};
  std::uint64_t bytes_since_snapshot_ = 0;
  std::optional<Membership> membership_;  // the last one reported (the hosts report at start)
  bool snapshot_pending_ = false;         // snapshot_begin called, image not yet handed over
  std::uint64_t last_sequence_ = 0;
  std::uint64_t durable_seen_ = 0;  // the highest durable sequence told
  // Invariant: in ready() order, sequences ascending.
  std::deque<Staged> staged_;
};

}  // namespace synod
