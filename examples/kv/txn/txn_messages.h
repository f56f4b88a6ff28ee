// The cross-shard commit protocol's vocabulary: log entries of a shard's
// group and messages between the groups' leaders. Pure values; the state
// machines (participant.h, coordinator.h) consume and produce them, and a
// host (the simulator, or synod-kv once it runs many groups) carries them.
// docs/kv.md, "Transactions across shards", describes the protocol.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "kv_command.h"
#include "resp_reply.h"
#include "txn_codec.h"

namespace synod::kv::txn {

using ShardId = std::uint32_t;
// Every participant shard of a transaction, ascending: carried by Prepare,
// Inquiry and Decide so that whichever leader logs the decision can tell
// every participant, even one that never heard of the transaction
// (docs/kv.md, "Two rounds").
using ShardList = std::vector<ShardId>;

// Unique per transaction: the coordinator's shard, and a number its leader
// makes unique (synod-kv: the leader's ballot round in the high bits, a
// counter in the low ones, so a new leader never reuses an old one's).
struct TxnId {
  ShardId coordinator = 0;
  std::uint64_t seq = 0;
  friend auto operator<=>(const TxnId&, const TxnId&) = default;
};

// What one shard does for a transaction: its commands (each on keys of that
// shard) and the WATCH checks on its keys.
struct ShardPart {
  std::vector<Request> commands;
  std::vector<WatchedKey> checks;
  friend bool operator==(const ShardPart&, const ShardPart&) = default;
};

struct TxnPlan {
  TxnId id;
  std::map<ShardId, ShardPart> parts;  // every participant, the coordinator's own too
  friend bool operator==(const TxnPlan&, const TxnPlan&) = default;
};
ShardList shards_of(const TxnPlan& plan);

// Why a transaction aborted; the client's reply follows from it.
enum class AbortReason : std::uint8_t {
  none = 0,
  watch = 1,        // a WATCHed key changed: EXEC answers nil
  locked = 2,       // a key was locked by another transaction: retryable
  timeout = 3,      // not every vote came in time: retryable
  in_doubt = 4,     // a new coordinator leader, or a participant's inquiry
  unknown_txn = 5,  // an inquiry about a transaction the coordinator never began
};

// ---- Log entries --------------------------------------------------------
// Participant side (any shard's group).
struct PrepareEntry {
  TxnId txn;
  ShardPart part;
  ShardList shards;
  friend bool operator==(const PrepareEntry&, const PrepareEntry&) = default;
};
struct CommitEntry {
  TxnId txn;
  friend bool operator==(const CommitEntry&, const CommitEntry&) = default;
};
struct AbortEntry {
  TxnId txn;
  friend bool operator==(const AbortEntry&, const AbortEntry&) = default;
};
// Coordinator side (the coordinator shard's group).
struct BeginEntry {
  TxnPlan plan;
  friend bool operator==(const BeginEntry&, const BeginEntry&) = default;
};
// The only truth about a transaction's outcome: the first DecideEntry for
// a txn in the coordinator's log wins; later ones change nothing.
struct DecideEntry {
  TxnId txn;
  bool commit = false;
  AbortReason reason = AbortReason::none;
  ShardList shards;  // who must hear it (the plan's, or an inquiry's)
  friend bool operator==(const DecideEntry&, const DecideEntry&) = default;
};
// Forgetting finished transactions (docs/kv.md, "Forgetting"). The
// coordinator's leader logs a ForgetEntry once every shard acked the
// decisions of a prefix of its records (in id order): those records go, and
// the group's floor rises past them. Every id of this coordinator below the
// floor is either forgotten (every participant applied its decision) or
// never begun, and can never be begun or decided again here.
struct ForgetEntry {
  std::vector<TxnId> txns;  // ascending, all of this coordinator, all decided
  std::uint64_t floor = 0;  // seq above every one of txns
  friend bool operator==(const ForgetEntry&, const ForgetEntry&) = default;
};
// Participant side: a coordinator's floor, as its FloorMsg told it. The
// shard drops its finished records of that coordinator below the floor and
// from then on refuses (votes no to) a prepare below it, so a late prepare
// of a forgotten transaction never locks or applies again.
struct FloorEntry {
  ShardId coordinator = 0;
  std::uint64_t floor = 0;
  friend bool operator==(const FloorEntry&, const FloorEntry&) = default;
};
using Entry = std::variant<PrepareEntry, CommitEntry, AbortEntry, BeginEntry, DecideEntry,
                           ForgetEntry, FloorEntry>;

// ---- Messages between leaders -------------------------------------------
struct PrepareMsg {  // coordinator -> participant
  TxnId txn;
  ShardPart part;
  ShardList shards;
  friend bool operator==(const PrepareMsg&, const PrepareMsg&) = default;
};
struct VoteMsg {  // participant -> coordinator
  TxnId txn;
  ShardId from = 0;
  bool yes = false;
  AbortReason reason = AbortReason::none;
  // A yes vote: the part's replies as its commit will give them. The part's
  // keys are locked from prepare to decision and nothing else writes them
  // (docs/kv.md, "Lock wait"), so they are known at prepare and the client
  // can have them as soon as the commit is decided.
  std::vector<Reply> results;
  friend bool operator==(const VoteMsg&, const VoteMsg&) = default;
};
struct DecisionMsg {  // coordinator -> participant
  TxnId txn;
  bool commit = false;
  friend bool operator==(const DecisionMsg&, const DecisionMsg&) = default;
};
struct AckMsg {  // participant -> coordinator: the decision is applied
  TxnId txn;
  ShardId from = 0;
  bool committed = false;
  std::vector<Reply> results;  // the part's replies, when committed
  friend bool operator==(const AckMsg&, const AckMsg&) = default;
};
struct InquiryMsg {  // participant -> coordinator: prepared, no decision yet
  TxnId txn;
  ShardId from = 0;
  ShardList shards;
  friend bool operator==(const InquiryMsg&, const InquiryMsg&) = default;
};
struct FloorMsg {  // coordinator -> participant: my floor (ForgetEntry)
  ShardId coordinator = 0;
  std::uint64_t floor = 0;
  friend bool operator==(const FloorMsg&, const FloorMsg&) = default;
};
struct FloorAckMsg {  // participant -> coordinator: my log holds your floor
  ShardId from = 0;
  std::uint64_t floor = 0;
  friend bool operator==(const FloorAckMsg&, const FloorAckMsg&) = default;
};
using Message =
    std::variant<PrepareMsg, VoteMsg, DecisionMsg, AckMsg, InquiryMsg, FloorMsg, FloorAckMsg>;

struct Envelope {
  ShardId to = 0;  // that shard's group's leader
  Message msg;
};

// How a client's EXEC ended, for the coordinator leader that took it.
struct ClientOutcome {
  enum class Kind : std::uint8_t {
    committed,  // results: each shard's replies
    aborted,    // nothing applied anywhere; reason says why
    unknown,    // the leader lost its leadership before it knew
  };
  TxnId txn;
  Kind kind = Kind::unknown;
  AbortReason reason = AbortReason::none;
  std::map<ShardId, std::vector<Reply>> results;
};

// What a state machine asks its host to do: entries to propose to its own
// group, messages to send, client answers to give.
struct Effects {
  std::vector<Entry> propose;
  std::vector<Envelope> send;
  std::vector<ClientOutcome> done;
  void append(Effects other);
};

// The client's reply for an outcome (Redis's where Redis has the case): an
// array of the replies in the order the commands were queued, nil for a
// WATCH abort, -TRYAGAIN for a retryable abort, -UNKNOWN when unknown.
// `order` lists, per queued command, its shard and index within the part.
Reply client_reply(const ClientOutcome& outcome,
                   const std::vector<std::pair<ShardId, std::size_t>>& order);

}  // namespace synod::kv::txn
