// The proposer role: phase 1 for all slots at once (candidate), then phase 2
// with batching and pipelining (leader). Paxos Made Simple, section 3.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "context.h"
#include "input_bounds.h"
#include "read_index.h"
#include "synod/replica.h"

namespace synod::detail {

class Proposer {
 public:
  explicit Proposer(Context& ctx);

  Role role() const { return role_; }
  bool leading() const { return role_ == Role::leader; }
  bool campaigning() const { return role_ == Role::candidate; }
  // The ballot this replica leads or campaigns with; zero when following.
  Ballot ballot() const { return role_ == Role::follower ? Ballot{} : ballot_; }
  std::size_t pending() const { return pending_.size(); }

  // Phase 1a with a ballot above every round seen. force: bypass acceptors'
  // stickiness. exclude_self: do not count this replica's own promise (a
  // replica rejoining after amnesia has nothing trustworthy to report).
  void campaign(bool force, bool exclude_self);
  // Pre-vote (a follower's election timeout): ask whether a majority would
  // promise a new ballot; campaign only if so.
  void probe();
  void on_probe_reply(const Message& msg);
  void stop_probing() { probing_ = false; }
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
    if (role_ == Role::candidate && promised_enough()) become_leader();
  }
  // Another ballot outranks ours: stop leading or campaigning. Proposals in
  // slots end unknown, queued ones not_leader.
  void step_down(NodeId hint);

  ProposeResult propose(std::string command);
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
  void tick();

 private:
  struct PeerPromise {
    bool done = false;
    Slot next{};  // the chunk asked for next
  };
  struct Reported {
    Ballot ballot{};
    Value value{};
    bool chosen = false;
  };
  struct InFlight {
    VoterMask acks = 0;
    std::uint64_t sent_tick = 0;
    // How many proposals this slot carries: its tickets are the next ones in
    // inflight_tickets_ (one queue for all slots, no vector per slot).
    std::uint32_t tickets = 0;
  };
  struct Pending {
    Ticket ticket;
    std::string command;
  };

  void send_prepare(NodeId to, Slot from);
  void merge_report(const Entry& e, bool chosen);
  void become_leader();
  Value recovered_value(Slot s) const;
  void assign_slot(const Value& v, std::uint32_t tickets);
  void send_accepts(Slot lo, Slot hi, VoterMask skip);
  void send_admitted();
  void send_heartbeats();
  void resend_unacked();
  void ack(Slot lo, Slot hi, VoterMask who);
  void commit_chosen_prefix();
  InFlight* inflight(Slot s);
  // At most min(max_inflight, alpha) slots past the commit index, so the
  // configuration of every slot proposed is known (docs/protocol.md, "Membership").
  Slot window_end() const {
    return Slot{ctx_.log.commit().value +
                std::min<std::uint64_t>(ctx_.config.max_inflight, ctx_.quorum.alpha())};
  }
  void ask(NodeId voter);
  void require_config(const Value& v);
  bool promised_enough() const;
  bool filling_to_config() const { return ctx_.quorum.latest_from() > next_slot_; }

  Context& ctx_;
  Role role_ = Role::follower;
  Ballot ballot_{};
  bool force_ = false;
  bool exclude_self_ = false;
  std::uint64_t now_ = 0;  // ticks since construction

  // Pre-vote state.
  bool probing_ = false;
  Ballot probe_ballot_{};
  VoterMask probe_mask_ = 0;

  // Candidate state.
  std::vector<PeerPromise> promises_;  // indexed by member bit
  VoterMask promised_mask_ = 0;
  Slot from_slot_{};
  // Promisers compacted every slot up to here: lead only once committed.
  Slot must_reach_{};
  VoterMask asked_mask_ = 0;
  std::vector<NodeId> asked_;
  // Configurations reported at slots from from_slot_ (or held there by this
  // replica): a majority of each must promise too.
  std::vector<Membership> required_;
  std::map<Slot, Reported> reported_;

  // Leader state. Invariant: inflight_[i] is slot commit + 1 + i, and every
  // slot in [commit + 1, next_slot_) holds this ballot's value in the log.
  std::deque<InFlight> inflight_;
  // Invariant: the tickets of inflight_'s slots, slot after slot, each slot's
  // in batch order; inflight_[i].tickets of them belong to slot i.
  std::deque<Ticket> inflight_tickets_;
  Slot next_slot_{};
  Slot sent_upto_{};  // Accepts went out for slots up to here
  VoterMask heard_mask_ = 0;
  std::uint64_t ticks_in_quorum_window_ = 0;
  std::uint64_t ticks_since_heartbeat_ = 0;

  std::deque<Pending> pending_;
  std::uint64_t pending_bytes_ = 0;
  ReadIndex reads_{ctx_};
  // Lease reads: ticks before this new leader's first accepts.
  std::uint64_t lease_wait_ = 0;

  // Membership changes: the next configuration to put in a slot, and the
  // learners added as voters, promoted once caught up (this leader's intent
  // only: a new leader does not promote them; the operator asks again).
  struct PendingConfig {
    Membership membership;
    Ticket ticket{};  // none for an automatic promotion
  };
  std::optional<PendingConfig> pending_config_;
  std::vector<NodeId> promote_wanted_;
  ProposeResult queue_config(MembershipOp op, NodeId node, bool internal);
  void maybe_promote(NodeId learner, Slot its_commit);
  void leave_if_removed();

  // Leadership transfer in progress: the target, and ticks spent on it.
  NodeId transfer_to_{};
  std::uint64_t transfer_ticks_ = 0;
  bool handed_over_ = false;  // timeout_now sent since the last heartbeat
  void maybe_hand_over();
  std::uint64_t next_ticket_ = 1;
};

}  // namespace synod::detail
