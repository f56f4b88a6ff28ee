// The cross-shard commit protocol (examples/kv/txn/) run on a sharded
// node's groups (docs/kv.md, "Transactions across shards"): per shard one
// Participant and one Coordinator, fed that shard's log entries (kv log tag
// 17, applied on every replica), the messages between the shards' leaders
// (host messages: a varint shard, then txn_wire.h's bytes), a clock, and
// this node's leadership of each shard. What the machines ask for is done
// through ShardTxnHost, always on a later turn of the loop than the call
// that asked (flush()), never re-entrantly from a group's apply.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv_store.h"
#include "synod/types.h"
#include "txn/coordinator.h"
#include "txn/participant.h"

namespace synod::kv {

// The kv log tag of a commit-protocol entry (kv_command.h's Op values are
// the other tags; 17 is the first one free): the tag, then
// txn::encode_entry's bytes.
inline constexpr std::uint8_t kTxnEntryTag = 17;
// Opens a shard's snapshot image that holds transaction state too
// (ShardTxns::snapshot); KvStore images open with "SKVSNAP".
inline constexpr std::string_view kTxnSnapshotMagic = "SKVTXNS1";
std::string txn_entry_bytes(const txn::Entry& entry);
bool is_txn_entry(std::string_view log_command);

// A message to a shard's leader, as a host message: varint shard, then
// txn::encode_message's bytes.
std::string txn_envelope_bytes(const txn::Envelope& envelope);

// What ShardTxns needs from the node.
class ShardTxnHost {
 public:
  virtual ~ShardTxnHost() = default;
  virtual NodeId self() const = 0;
  // The ballot under which this node leads the shard's group now, or
  // nullopt when it does not lead it.
  virtual std::optional<Ballot> leading(txn::ShardId shard) const = 0;
  // The node this one believes leads the shard (NodeId{} when unknown).
  virtual NodeId leader_of(txn::ShardId shard) const = 0;
  // Proposes a log entry to the shard's group; done(true) once chosen and
  // applied here, done(false) when it may not be.
  virtual void propose(txn::ShardId shard, std::string entry, std::function<void(bool)> done) = 0;
  // Best effort, as every peer frame: the protocol resends.
  virtual void send(NodeId to, std::string payload) = 0;
  // Asks for flush() on a later turn of the loop.
  virtual void wake() = 0;
};

struct ShardTxnsOptions {
  std::size_t shards = 1;
  txn::CoordinatorOptions coordinator;
  txn::ParticipantOptions participant;
};

struct ShardTxnsStats {
  std::uint64_t started = 0;    // EXECs (and multi-key commands) begun here
  std::uint64_t committed = 0;  // their outcomes, as their clients got them
  std::uint64_t aborted = 0;
  std::uint64_t unknown = 0;
  std::uint64_t messages_sent = 0;             // to another node's host
  std::uint64_t messages_local = 0;            // to this node's own machines
  std::uint64_t messages_received = 0;         // from another node, handed to a machine
  std::uint64_t messages_malformed = 0;        // undecodable or naming no shard: dropped
  std::uint64_t messages_not_leader = 0;       // for a shard this node does not lead: dropped
  std::uint64_t messages_no_leader = 0;        // to a shard with no known leader: dropped
  std::uint64_t entries_malformed = 0;         // a tag-17 log entry that does not decode
  std::uint64_t proposals_failed = 0;          // not chosen: the leader's drive restarts
  std::uint64_t drives_restarted = 0;          // after a failed proposal (at most one a tick)
  std::uint64_t effects_dropped_follower = 0;  // a follower's apply asked for work: dropped
};

class ShardTxns {
 public:
  using Done = std::function<void(const txn::ClientOutcome& outcome)>;
  // `stores[s]` is shard s's KvStore; every one must outlive this.
  ShardTxns(ShardTxnHost& host, std::vector<KvStore*> stores, ShardTxnsOptions options);

  // On the leader of `home`: runs a transaction over `parts` (one per
  // shard, `home`'s included); `done` gets the outcome once (dropped if
  // the caller no longer cares). False, and nothing begun, when this node
  // does not lead `home` or has run out of transaction ids for this term.
  bool start(txn::ShardId home, std::map<txn::ShardId, txn::ShardPart> parts, Done done);

  // Every replica: a tag-17 entry of the shard's log (with the tag). The
  // same reply on every replica; the store's command count moves, so WATCH
  // versions of keys a commit writes change.
  Reply apply(txn::ShardId shard, std::string_view log_command);

  // A host message from another node (never trusted: checked, counted).
  void on_message(NodeId from, std::string_view payload);
  // The clock (every tick_ms of the protocol), and this node's leadership
  // of every shard, compared with what the machines were told.
  void tick();
  // The work apply(), local messages and ticks left for a later turn.
  void flush();

  // The shard's snapshot image: the store's own image while the shard's
  // machines hold nothing (what a node without transactions writes), else
  // kTxnSnapshotMagic, the store's image and the machines' state, so that a
  // replica restored from it still holds every prepared transaction's locks
  // and every decision. restore() takes either; false, with nothing
  // changed, for bytes that are neither.
  std::string snapshot(txn::ShardId shard) const;
  bool restore(txn::ShardId shard, std::string_view image);

  // A single-key command must wait while its shard holds a key locked by a
  // prepared transaction (docs/kv.md, "Lock wait").
  bool locked(txn::ShardId shard, std::string_view key) const;
  bool any_locked(txn::ShardId shard) const;
  std::size_t prepared(txn::ShardId shard) const;
  const ShardTxnsStats& stats() const { return stats_; }
  // The machines, for tests and INFO.
  const txn::Participant& participant(txn::ShardId shard) const { return *participants_[shard]; }
  const txn::Coordinator& coordinator(txn::ShardId shard) const { return coordinators_[shard]; }

 private:
  struct Inbound {
    NodeId from;
    txn::Envelope envelope;
  };
  // Tells the shard's machines about a change of this node's leadership.
  void sync(txn::ShardId shard);
  void run(txn::ShardId shard, txn::Effects fx);
  void deliver(txn::ShardId shard, const txn::Message& msg);
  void deliver_outcome(const txn::ClientOutcome& outcome);
  void proposal_failed(txn::ShardId shard, std::uint64_t generation);

  ShardTxnHost& host_;
  ShardTxnsOptions opt_;
  std::vector<KvStore*> stores_;
  std::vector<std::unique_ptr<txn::Participant>> participants_;
  std::vector<txn::Coordinator> coordinators_;
  // What each shard's machines were last told: the ballot this node leads
  // it under, or nullopt.
  std::vector<std::optional<Ballot>> told_;
  // Transaction ids: a counter per shard within the term of seq_ballot_
  // (never reset within one term, or an id would come back).
  std::vector<std::uint32_t> next_seq_;
  std::vector<std::optional<Ballot>> seq_ballot_;
  // A failed proposal restarts the shard's drive at the next tick, once per
  // generation: the failures of the proposals of a drive already restarted
  // (a burst, when the group refuses them all) change nothing.
  std::vector<std::uint64_t> generation_;
  std::vector<bool> restart_due_;
  std::map<txn::TxnId, Done> clients_;
  // Effects of apply() and messages to this node, for flush().
  std::vector<std::pair<txn::ShardId, txn::Effects>> pending_;
  std::vector<txn::Envelope> local_;
  ShardTxnsStats stats_;
};

}  // namespace synod::kv
