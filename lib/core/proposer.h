// The proposer: phase 1 for all slots at once (candidate), then phase 2 with
// batching and pipelining (leader). Paxos Made Simple, section 3. One file per
// job: proposer_candidate.cc (pre-vote, phase 1, recovery), proposer_leader.cc
// (batching, phase 2, commit, timers), proposer_membership.cc,
// proposer_transfer.cc, proposer_forget.cc. Each role's state is its own type
// (proposer_roles.h), so a new ballot starts from fresh state by construction.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <variant>

#include "context.h"
#include "input_bounds.h"
#include "proposer_roles.h"
#include "read_index.h"
#include "synod/replica.h"

namespace synod::detail {

class Proposer {
 public:
  explicit Proposer(Context& ctx);

  Role role() const;
  bool leading() const { return std::holds_alternative<LeaderState>(state_); }
  bool campaigning() const { return std::holds_alternative<CandidateState>(state_); }
  // The ballot this replica leads or campaigns with; zero when following.
  Ballot ballot() const { return role() == Role::follower ? Ballot{} : ballot_; }
  std::size_t pending() const { return leading() ? leader().pending.size() : 0; }

  // Phase 1a with a ballot above every round seen. force: bypass acceptors'
  // stickiness. exclude_self: do not count this replica's own promise (a
  // replica rejoining after amnesia has nothing trustworthy to report).
  void campaign(bool force, bool exclude_self);
  // Pre-vote (a follower's election timeout): ask whether a majority would
  // promise a new ballot; campaign only if so.
  void probe();
  void on_probe_reply(const Message& msg);
  void stop_probing() { probe_.reset(); }
  // Election timeout while campaigning: retry, with a new ballot only if a
  // higher round was seen.
  void retry_campaign();
  void on_promise(const Message& msg);
  // The last campaign sent `voter` a prepare: only such a voter promises.
  bool asked(NodeId voter) const {
    VoterMask b = ctx_.quorum.bit(voter);
    return b != 0 && (asked_mask_ & b) != 0;
  }
  // Member bits the quorum freed (no configuration held names their ids):
  // every mask and per-peer state drops them before a bit names another id
  // (proposer_forget.cc).
  void forget(VoterMask freed);
  // The commit index moved (catch-up): a candidate that waited to catch up
  // past an acceptor's compaction point may lead now.
  void on_caught_up() {
    if (campaigning() && promised_enough()) become_leader();
  }
  // Another ballot outranks ours: stop leading or campaigning. Proposals in
  // slots end unknown, queued ones not_leader.
  void step_down(NodeId hint);

  ProposeResult propose(std::string_view command);
  // Queues a configuration: the latest one changed by op. One change at a
  // time: busy until the last one governs. The result's ticket reports the
  // outcome (an automatic promotion, queued internally, has none).
  ProposeResult change_membership(MembershipOp op, NodeId node);
  bool config_busy() const;
  ProposeResult read();
  // A follower asks for a read index (Replica::read on a follower).
  void on_read_index_request(const Message& msg);
  Ticket new_ticket() { return Ticket{next_ticket_++}; }
  Status transfer(NodeId to);
  void on_accepted(const Message& msg);
  void on_heartbeat_ack(const Message& msg);
  // An entry staged by this replica is now durable: the leader counts its
  // own acceptance only now (docs/invariants.md, invariant 6).
  void on_durable(const Entry& e);
  // Move queued proposals into slots while the in-flight window allows.
  void flush();
  bool can_flush() const;
  // Leader: heartbeats, resends and check-quorum. Candidate: resends.
  // may_quiesce (quiescence.cc decided the group is idle): the heartbeat
  // due this tick, if any, goes out marked quiesce; true when it did and the
  // replica still leads, so it falls asleep.
  bool tick(bool may_quiesce = false);
  // Quiescence: a leader with nothing queued, in flight, pending or waiting
  // (proposer_leader.cc). The caller checks the rest (its peers' commits).
  bool idle_leader() const;
  // A sleeping leader wakes: its lease is spent, check-quorum starts a new
  // window, and heartbeats go out at once.
  void on_wake();

 private:
  using PeerPromise = CandidateState::PeerPromise;
  using Reported = CandidateState::Reported;
  using InFlight = LeaderState::InFlight;
  using PendingConfig = LeaderState::PendingConfig;

  // Role state accessors: each asserts the role it serves (a call in the
  // wrong role is a bug, never input). A reference is dropped before any
  // call that may change the role (step_down, campaign, become_leader).
  CandidateState& candidate();
  const CandidateState& candidate() const;
  LeaderState& leader();
  const LeaderState& leader() const;

  // Candidate (proposer_candidate.cc).
  void send_prepare(NodeId to, Slot from);
  void merge_report(CandidateState& c, const Entry& e, bool chosen);
  void ask(NodeId voter);
  void require_config(const Value& v);
  bool promised_enough() const;
  Value recovered_value(const CandidateState& c, Slot s) const;
  void become_leader();

  // Leader (proposer_leader.cc).
  void assign_slot(const Value& v, std::uint32_t tickets);
  void send_accepts(Slot lo, Slot hi, VoterMask skip);
  void send_admitted();
  void send_heartbeats(bool quiesce = false);
  void resend_unacked();
  void ack(Slot lo, Slot hi, VoterMask who);
  void commit_chosen_prefix();
  void batch_pending();
  void check_quorum();
  InFlight* inflight(Slot s);
  // At most min(max_inflight, alpha) slots past the commit index, so the
  // configuration of every slot proposed is known (docs/protocol.md, "Membership").
  Slot window_end() const {
    return Slot{ctx_.log.commit().value +
                std::min<std::uint64_t>(ctx_.config.max_inflight, ctx_.quorum.alpha())};
  }
  bool filling_to_config() const { return ctx_.quorum.latest_from() > leader().next_slot; }

  // Membership changes (proposer_membership.cc).
  ProposeResult queue_config(MembershipOp op, NodeId node, bool internal);
  void maybe_promote(NodeId learner, Slot its_commit);
  void leave_if_removed();

  // Leadership transfer (proposer_transfer.cc).
  bool transferring() const { return leading() && leader().transfer.has_value(); }
  NodeId transfer_target() const { return transferring() ? leader().transfer->to : NodeId{}; }
  void maybe_hand_over();
  void tick_transfer(bool heartbeat_due);
  void send_timeout_now(NodeId to);

  Context& ctx_;
  // Exactly one role's state; its index is the Role (role()).
  std::variant<FollowerState, CandidateState, LeaderState> state_;
  Ballot ballot_{};
  std::optional<Probe> probe_;  // a follower's pre-vote in progress
  // The voters the last campaign asked. Kept after the campaign ends: late
  // chunks of their promises are answers (merged nowhere), not forgeries.
  VoterMask asked_mask_ = 0;
  std::uint64_t now_ = 0;  // ticks since construction
  ReadIndex reads_{ctx_};
  std::uint64_t next_ticket_ = 1;
};

}  // namespace synod::detail
