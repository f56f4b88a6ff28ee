// How a client's cross-shard request becomes a commit-protocol plan
// (docs/kv.md, "Transactions across shards"): an EXEC's queued commands,
// and MSET / MGET / DEL / EXISTS whose keys span shards, split into one
// ShardPart per shard, with the recipe that puts the parts' replies back
// into the reply the client expects. Pure: the sharded node (shard_node.h)
// asks it per request, and tests/kv/txn_plan_test.cc checks it.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hash_slot.h"
#include "kv_command.h"
#include "txn/txn_messages.h"

namespace synod::kv {

// Where one client command's reply comes from: the pieces it was split
// into (one per shard it touches, in the order of its keys' first shard).
struct ReplyPiece {
  txn::ShardId shard = 0;
  std::size_t index = 0;               // the command's index within that shard's part
  std::vector<std::size_t> positions;  // MGET: which of the command's keys this piece read
};
struct ReplyRecipe {
  Op op = Op::ping;  // how pieces combine: MGET interleaves, DEL/EXISTS sum, MSET is OK
  std::size_t keys = 0;
  std::vector<ReplyPiece> pieces;
};

struct PlannedTxn {
  std::map<txn::ShardId, txn::ShardPart> parts;
  // True for an EXEC (the reply is an array, one element per command);
  // false for a lone MSET/MGET/DEL/EXISTS (the reply is that command's).
  bool exec = false;
  std::vector<ReplyRecipe> replies;  // one per client command
};

// The plan of a request whose keys span shards: an Op::txn (EXEC, with its
// watch block) or a multi-key command. Nullopt with *why for what cannot
// be split atomically: MSETNX across shards (it is all-or-nothing on keys
// of several shards at once: refused as Redis Cluster does, -CROSSSLOT) or
// an Op::txn whose payload does not decode (a bug: the session built it).
std::optional<PlannedTxn> plan_request(const Request& request, const SlotMap& map,
                                       std::string* why);

// The client's reply once the transaction ended: txn::client_reply's for an
// abort or an unknown outcome; for a commit, each command's reply put back
// together from its pieces.
Reply planned_reply(const PlannedTxn& plan, const txn::ClientOutcome& outcome);

}  // namespace synod::kv
