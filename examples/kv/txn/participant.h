// One shard's side of the cross-shard commit protocol, as a pure state
// machine: the replicated part changes only by apply() of this shard's log
// entries (the same on every replica); the leader part reacts to messages
// and ticks by asking for entries to be proposed and messages sent.
//
// Rules (docs/kv.md, "Transactions across shards"):
// - PrepareEntry: if any key is locked by another transaction, or a WATCH
//   check fails, the shard votes no and forgets the transaction (it may
//   abort alone: the decision can only be abort). Otherwise it locks every
//   key the part touches (reads too: serializable) and votes yes.
// - CommitEntry applies the part's commands to the store and unlocks;
//   AbortEntry unlocks. Both only ever follow a DecisionMsg, which the
//   coordinator sends only once its log holds the decision.
// - The first outcome a shard records for a txn is final: a later Prepare,
//   Commit or Abort for it changes nothing (duplicates, reordering).
// - A leader holding a prepared txn with no decision for inquiry_ticks asks
//   the coordinator's group (InquiryMsg, with the txn's shard list, so an
//   abort logged for it reaches every participant), again every
//   inquiry_ticks. A prepare may come before its Begin is chosen, or for a
//   Begin never chosen (docs/kv.md, "Two rounds").
// - A no vote's abort is recorded at once (nothing locked) but stays
//   unconfirmed until the coordinator's decision arrives and is logged
//   (AbortEntry); until then the leader inquires as for a prepared txn, so
//   the coordinator's log holds a decision for every txn any shard recorded,
//   also when the Begin was lost with its leader.
// - Forgetting (docs/kv.md, "Forgetting"): a FloorMsg from a coordinator
//   is logged as a FloorEntry, once; applying it drops this shard's
//   finished records of that coordinator below the floor (those its leader
//   acked; a no vote still unconfirmed stays) and acks the floor. From then
//   on a prepare below the floor, of a txn this shard holds nothing of, is
//   answered no and recorded nowhere, and a decision for one is acked
//   without an entry: it is forgotten, or was never begun and never will be.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "kv_store.h"
#include "txn_messages.h"

namespace synod::kv::txn {

struct ParticipantOptions {
  std::uint32_t inquiry_ticks = 20;
  // Planted bug (for the simulator's gate): apply a part's commands as soon
  // as it is prepared, before any decision is chosen. Tests must catch it.
  bool planted_apply_before_decision = false;
  // Planted bug (for the simulator's gate): prepare a txn below its
  // coordinator's floor like any other, so a late prepare of a forgotten
  // transaction locks (and its late decision applies) again.
  bool planted_prepare_below_floor = false;
};

class Participant {
 public:
  Participant(ShardId self, KvStore& store, ParticipantOptions options = {});

  // Replicated: one of this shard's log entries (Prepare, Commit or Abort;
  // coordinator entries are ignored). The effects are the leader's to carry
  // out; followers drop them.
  Effects apply(const Entry& entry);

  // Leader: messages from coordinators, and the clock.
  Effects on_prepare(const PrepareMsg& m);
  Effects on_decision(const DecisionMsg& m);
  Effects on_floor(const FloorMsg& m);
  Effects tick();
  // This replica just became leader (or the leader restarted): forgets what
  // it had proposed, as those proposals may be lost.
  void become_leader();

  // A single-key command on a locked key must wait for the decision, or
  // fail with locked_reply() after a bound (docs/kv.md).
  bool locked(std::string_view key) const;
  static Reply locked_reply(std::string_view key);

  std::size_t prepared_count() const { return prepared_.size(); }
  // No votes whose abort the coordinator's log has not yet confirmed here.
  std::size_t unconfirmed_count() const { return unconfirmed_.size(); }
  // The outcome this shard recorded: true committed, false aborted.
  std::optional<bool> outcome(const TxnId& t) const;
  std::size_t locks() const { return locks_.size(); }
  // Finished records held (what forgetting bounds).
  std::size_t finished_count() const { return finished_.size(); }
  // The coordinator's floor as this shard's log holds it.
  std::uint64_t floor_of(ShardId coordinator) const;

  // The replicated state (prepared parts, recorded outcomes with their
  // results), for the shard's snapshot; load() replaces it, or returns
  // false and changes nothing when `bytes` is not save()'s. The leader's
  // volatile state starts over, as after become_leader().
  std::string save() const;
  bool load(std::string_view bytes);

 private:
  struct Prepared {
    ShardPart part;
    ShardList shards;              // the txn's participants, for its inquiries
    std::vector<Reply> results;    // as the commit will answer (VoteMsg::results)
    std::uint64_t since_tick = 0;  // leader's clock when it saw it (volatile use)
  };
  struct Finished {
    bool committed = false;
    std::vector<Reply> results;
  };
  Effects prepare(const PrepareEntry& e);
  // The part's replies if it were applied now, from a scratch store holding
  // copies of its keys (the live store is untouched).
  std::vector<Reply> predict(const ShardPart& part) const;
  Effects finish(const TxnId& t, bool commit);
  void unlock(const TxnId& t, const ShardPart& part);
  AckMsg ack(const TxnId& t, const Finished& f) const;
  Effects apply_floor(const FloorEntry& e);
  // Below its coordinator's floor, and nothing of it held here.
  bool forgotten(const TxnId& t) const;

  ShardId self_;
  KvStore& store_;
  ParticipantOptions opt_;
  // Replicated.
  std::map<TxnId, Prepared> prepared_;
  std::map<std::string, TxnId, std::less<>> locks_;
  std::map<TxnId, Finished> finished_;
  struct Unconfirmed {
    ShardList shards;
    std::uint64_t since_tick = 0;  // leader's clock (volatile use)
  };
  std::map<TxnId, Unconfirmed> unconfirmed_;  // no votes, decision not yet logged here
  std::map<ShardId, std::uint64_t> floors_;   // per coordinator (FloorEntry)
  // Leader's, volatile.
  std::set<TxnId> proposed_;                         // entries asked for and not yet applied
  std::map<ShardId, std::uint64_t> floor_proposed_;  // FloorEntry asked for
  std::uint64_t now_ = 0;
};

}  // namespace synod::kv::txn
