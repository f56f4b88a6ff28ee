#include "txn_messages.h"

namespace synod::kv::txn {

ShardList shards_of(const TxnPlan& plan) {
  ShardList shards;
  shards.reserve(plan.parts.size());
  for (const auto& [shard, part] : plan.parts) shards.push_back(shard);
  return shards;  // ascending: the map's order
}

Reply client_reply(const ClientOutcome& outcome,
                   const std::vector<std::pair<ShardId, std::size_t>>& order) {
  switch (outcome.kind) {
    case ClientOutcome::Kind::unknown:
      return Reply::error(
          "UNKNOWN outcome unknown: the coordinator lost its leadership before the decision "
          "reached this node; the transaction may or may not have been applied");
    case ClientOutcome::Kind::aborted:
      if (outcome.reason == AbortReason::watch) return Reply::null_array();
      return Reply::error(outcome.reason == AbortReason::locked
                              ? "TRYAGAIN transaction aborted: a key was locked by another "
                                "transaction; nothing was applied, retry"
                              : "TRYAGAIN transaction aborted before every shard voted; "
                                "nothing was applied, retry");
    case ClientOutcome::Kind::committed:
      break;
  }
  std::vector<Reply> replies;
  replies.reserve(order.size());
  for (const auto& [shard, index] : order) {
    auto it = outcome.results.find(shard);
    if (it == outcome.results.end() || index >= it->second.size()) {
      replies.push_back(Reply::error("ERR missing result"));  // a caller bug, said plainly
      continue;
    }
    replies.push_back(it->second[index]);
  }
  return Reply::array(std::move(replies));
}

}  // namespace synod::kv::txn
