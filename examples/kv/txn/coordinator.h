// The coordinator's side of the cross-shard commit protocol, as a pure
// state machine over its group's log (BeginEntry, DecideEntry) and its
// leader's messages and ticks. The coordinator is a Paxos group, not a
// process: the outcome is the first DecideEntry its log holds for the txn,
// so no coordinator crash leaves a transaction in doubt for ever (Gray and
// Lamport, "Consensus on Transaction Commit"; docs/kv.md).
//
// Leader rules (two log rounds, docs/kv.md "Two rounds"):
// - start(plan): propose BeginEntry and, in the same turn, send PrepareMsg
//   (with the plan's shard list) to every participant, again every
//   resend_ticks until it votes. Votes that come before the Begin is
//   applied are kept.
// - No DecideEntry for a txn is proposed while its Begin, proposed here, is
//   not yet applied here. Once it is: every vote yes, propose
//   DecideEntry(commit); a no vote, or not every vote within
//   vote_timeout_ticks, DecideEntry(abort). A DecideEntry carries the shard
//   list: the plan's, or an inquiry's for a txn whose Begin this log lacks.
// - Once a DecideEntry is applied: send DecisionMsg to every shard of its
//   list, again every resend_ticks until it acks.
// - become_leader(): every begun txn without a decision gets a proposed
//   abort (its votes were the old leader's), and so does every txn whose
//   Begin this replica proposed when it led before and never saw applied;
//   every decided one is resent.
// - InquiryMsg: the decision if there is one; otherwise, unless this
//   leader is still collecting that txn's votes (or its Begin is in
//   flight here), a proposed abort, for the inquiry's shard list.
// - A Begin applied after a Decide for the same txn changes nothing.
// - Forgetting (docs/kv.md, "Forgetting"): once every shard acked the
//   decisions of the oldest records (a prefix in id order, none at or above
//   a Begin still in flight here), the leader proposes a ForgetEntry for
//   them (at most forget_batch ids, every forget_ticks, one in flight).
//   Applying it drops them and raises the floor past the last, but never
//   past a record still held, so no record is ever below the floor. A
//   forgotten id, or one below the floor, is never begun or decided again:
//   a Begin or Decide for it without a record changes nothing, and an
//   inquiry about it is answered abort without a log entry. The leader
//   tells the floor (FloorMsg) to every shard of a forgotten txn and to
//   every shard it so answers, until each acks; a new leader tells every
//   shard of CoordinatorOptions::all_shards.
// - The client of start() gets its ClientOutcome from the leader that took
//   it: aborted as soon as the abort is applied, committed once every
//   participant acked (with their results), or once the commit is decided
//   when every yes vote carried its part's replies; unknown if leadership
//   is lost first (lose_leadership()).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "txn_messages.h"

namespace synod::kv::txn {

struct CoordinatorOptions {
  std::uint32_t resend_ticks = 5;
  std::uint32_t vote_timeout_ticks = 50;
  // Planted bug (for the simulator's gate): the abort logged for an
  // inquiry about a txn this log never began names only the inquirer, so a
  // participant that never saw the prepare never hears it (the gap the
  // shard lists close, docs/kv.md "Two rounds"). Tests must catch it.
  bool planted_abort_tells_inquirer_only = false;
  // Every shard of the deployment, if the host knows them: a new leader
  // tells each its floor once (which shards applied it is not replicated,
  // and a shard answered abort below the floor may not be among those the
  // forgotten txns named).
  ShardList all_shards;
  // At least this many ticks between two ForgetEntries: each costs an entry
  // here and one in every shard it names (FloorEntry), so they are batched.
  std::uint32_t forget_ticks = 25;
  // Most ids one ForgetEntry names.
  std::uint32_t forget_batch = 1024;
  // Planted bug (for the simulator's gate): forget a decided transaction
  // without waiting for every participant's ack, so a participant that has
  // not yet applied the decision is answered abort. Tests must catch it.
  bool planted_forget_unacked = false;
};

class Coordinator {
 public:
  explicit Coordinator(ShardId self, CoordinatorOptions options = {});

  // Leader: a client's EXEC whose keys span shards. plan.id.coordinator
  // must be this shard and plan.id unique (txn_messages.h).
  Effects start(TxnPlan plan);

  // Replicated: one of this group's log entries (Begin or Decide;
  // participant entries are ignored).
  Effects apply(const Entry& entry);

  // Leader: messages from participants, and the clock.
  Effects on_vote(const VoteMsg& m);
  Effects on_ack(const AckMsg& m);
  Effects on_inquiry(const InquiryMsg& m);
  Effects on_floor_ack(const FloorAckMsg& m);
  Effects tick();
  Effects become_leader();
  // This replica stopped leading: its clients' EXECs whose outcome it does
  // not know answer unknown.
  Effects lose_leadership();

  // The decision the log holds, if any: true commit, false abort.
  std::optional<bool> decision(const TxnId& t) const;
  std::size_t undecided() const;
  // Records held (begun or decided, not yet forgotten): what memory and a
  // new leader's resends grow with.
  std::size_t records() const { return records_.size(); }
  // Every id of this coordinator below it is forgotten or never begun.
  std::uint64_t floor() const { return floor_; }

  // The replicated records (plans and decisions), for the shard's snapshot;
  // load() replaces them, or returns false and changes nothing when `bytes`
  // is not save()'s. A replica that loads is no leader until become_leader().
  std::string save() const;
  bool load(std::string_view bytes);

 private:
  struct Record {  // replicated
    TxnPlan plan;
    ShardList shards;  // who hears the decision: the plan's, or the Decide's
    bool decided = false;
    bool commit = false;
    AbortReason reason = AbortReason::none;
  };
  struct Drive {  // the leader's, volatile
    std::set<ShardId> voted_yes;
    std::map<ShardId, std::vector<Reply>> acked;
    // The yes votes' replies (VoteMsg::results): with one from every part,
    // the client hears of a commit as soon as it is decided.
    std::map<ShardId, std::vector<Reply>> predicted;
    std::uint64_t started_tick = 0;
    std::uint64_t last_send_tick = 0;
    bool decide_proposed = false;
    bool all_acked = false;  // every shard acked the decision: may be forgotten
    bool has_client = false;
    // A no vote's reason (the first); a vote may come before the Begin is
    // applied, and the decision waits for it.
    AbortReason no_vote = AbortReason::none;
  };
  Effects propose_decision(const TxnId& t, bool commit, AbortReason reason, ShardList shards);
  // The decision the votes call for, once the Begin is applied here.
  Effects decide_if_voted(const TxnId& t);
  const TxnPlan* plan_of(const TxnId& t) const;
  void send_prepares(const TxnPlan& plan, const Drive& d, Effects* fx) const;
  void send_decisions(const Record& r, const Drive& d, Effects* fx) const;
  ClientOutcome outcome_of(const Record& r, const Drive& d) const;
  Effects apply_forget(const ForgetEntry& f);
  Effects propose_forget();
  void send_floor(Effects* fx) const;
  // No record, and forgotten (below the floor or named by a ForgetEntry the
  // floor could not yet pass) or never begun and below the floor.
  bool gone(const TxnId& t) const {
    return !records_.contains(t) && (t.seq < floor_ || forgotten_above_.contains(t));
  }

  ShardId self_;
  CoordinatorOptions opt_;
  std::map<TxnId, Record> records_;
  std::map<TxnId, Drive> drives_;
  std::map<TxnId, TxnPlan> pending_;  // started here, Begin not yet applied
  // Replicated: the floor, and every shard a forgotten txn named (who
  // must learn the floor).
  std::uint64_t floor_ = 0;
  std::set<ShardId> floor_shards_;
  // Forgotten ids at or above the floor: a record the floor may not pass
  // (it is still held) keeps the floor below them for a while.
  std::set<TxnId> forgotten_above_;
  // Leader's, volatile: per shard, the floor it must ack (one past every
  // forgotten id it was part of, or was answered about; the floor itself
  // may still be below that while a record holds it), and the Forget in
  // flight.
  std::map<ShardId, std::uint64_t> floor_owed_;
  void owe_floor(ShardId shard, std::uint64_t floor);
  std::uint64_t floor_sent_tick_ = 0;
  bool forget_in_flight_ = false;
  std::uint64_t forget_proposed_tick_ = 0;  // the last ForgetEntry proposed
  std::uint64_t now_ = 0;
  bool leader_ = false;  // only a leader keeps drives_ and has effects
};

}  // namespace synod::kv::txn
