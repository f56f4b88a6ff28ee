#include "txn_plan.h"

#include <algorithm>

#include "kv_command_codec.h"
#include "shard_router.h"
#include "txn_codec.h"

namespace synod::kv {
namespace {

// Adds one client command to the plan, split by shard. `home` is where a
// keyless command (DBSIZE) runs: the first key's shard.
bool add_command(Request q, const SlotMap& map, txn::ShardId home, PlannedTxn* plan,
                 std::string* why) {
  ReplyRecipe recipe;
  recipe.op = q.op;
  auto piece_for = [&](txn::ShardId shard) -> ReplyPiece& {
    for (ReplyPiece& p : recipe.pieces)
      if (p.shard == shard) return p;
    recipe.pieces.push_back(ReplyPiece{shard, 0, {}});
    return recipe.pieces.back();
  };
  // Each piece's own request, built alongside recipe.pieces (same order).
  std::vector<Request> split;
  auto request_for = [&](txn::ShardId shard) -> Request& {
    std::size_t before = recipe.pieces.size();
    ReplyPiece& p = piece_for(shard);
    if (recipe.pieces.size() > before) split.push_back(Request{q.op, {}, q.condition});
    return split[static_cast<std::size_t>(&p - recipe.pieces.data())];
  };
  switch (q.op) {
    case Op::mget:
    case Op::del:
    case Op::exists:
      recipe.keys = q.args.size();
      for (std::size_t i = 0; i < q.args.size(); ++i) {
        auto shard = static_cast<txn::ShardId>(map.shard_of_key(q.args[i]));
        request_for(shard).args.push_back(std::move(q.args[i]));
        piece_for(shard).positions.push_back(i);
      }
      break;
    case Op::mset:
    case Op::msetnx:
      recipe.keys = q.args.size() / 2;
      for (std::size_t i = 0; i + 1 < q.args.size(); i += 2) {
        auto shard = static_cast<txn::ShardId>(map.shard_of_key(q.args[i]));
        Request& r = request_for(shard);
        r.args.push_back(std::move(q.args[i]));
        r.args.push_back(std::move(q.args[i + 1]));
      }
      if (q.op == Op::msetnx && recipe.pieces.size() > 1) {
        *why = "MSETNX with keys on several shards";
        return false;
      }
      break;
    case Op::dbsize:
      request_for(home) = std::move(q);
      break;
    default:  // one key, the first argument
      request_for(static_cast<txn::ShardId>(map.shard_of_key(q.args[0]))) = std::move(q);
      break;
  }
  for (std::size_t i = 0; i < recipe.pieces.size(); ++i) {
    std::vector<Request>& commands = plan->parts[recipe.pieces[i].shard].commands;
    recipe.pieces[i].index = commands.size();
    commands.push_back(std::move(split[i]));
  }
  plan->replies.push_back(std::move(recipe));
  return true;
}

// The reply of one command from its pieces' results (a commit).
Reply combine(const ReplyRecipe& recipe, const txn::ClientOutcome& outcome) {
  std::vector<const Reply*> got;
  for (const ReplyPiece& p : recipe.pieces) {
    auto it = outcome.results.find(p.shard);
    if (it == outcome.results.end() || p.index >= it->second.size())
      return Reply::error("ERR missing result");  // a bug, said plainly
    if (it->second[p.index].is_error() || recipe.pieces.size() == 1) return it->second[p.index];
    got.push_back(&it->second[p.index]);
  }
  switch (recipe.op) {
    case Op::mget: {
      std::vector<Reply> values(recipe.keys);
      for (std::size_t i = 0; i < got.size(); ++i) {
        const std::vector<std::size_t>& at = recipe.pieces[i].positions;
        if (got[i]->kind != Reply::Kind::array || got[i]->elements.size() != at.size())
          return Reply::error("ERR missing result");
        for (std::size_t k = 0; k < at.size(); ++k) values[at[k]] = got[i]->elements[k];
      }
      return Reply::array(std::move(values));
    }
    case Op::del:
    case Op::exists: {
      std::int64_t n = 0;
      for (const Reply* r : got) n += r->num;
      return Reply::integer(n);
    }
    default:  // MSET: every piece answered OK
      return Reply::ok();
  }
}

}  // namespace

std::optional<PlannedTxn> plan_request(const Request& request, const SlotMap& map,
                                       std::string* why) {
  PlannedTxn plan;
  std::vector<Request> commands;
  std::vector<WatchedKeyView> watched;
  if (request.op == Op::txn) {
    plan.exec = true;
    if (request.args.empty() || !decode_watch_block(request.args[0], &watched)) {
      *why = "transaction payload does not decode";
      return std::nullopt;
    }
    for (std::size_t i = 1; i < request.args.size(); ++i) {
      std::optional<Request> q = decode(request.args[i]);
      if (!q || !allowed_in_txn(q->op)) {
        *why = "transaction payload does not decode";
        return std::nullopt;
      }
      commands.push_back(std::move(*q));
    }
  } else {
    commands.push_back(request);
  }
  // The coordinator is the first key's shard (shard_router.h's route): the
  // watched keys come first, then the commands' keys.
  std::vector<std::string_view> keys;
  if (!keys_of(request, &keys) || keys.empty()) {
    *why = "no key to route by";
    return std::nullopt;
  }
  auto home = static_cast<txn::ShardId>(map.shard_of_key(keys[0]));
  plan.parts[home];  // the coordinator's shard takes part, even with nothing to do
  for (const WatchedKeyView& w : watched) {
    plan.parts[static_cast<txn::ShardId>(map.shard_of_key(w.key))].checks.push_back(
        WatchedKey{std::string(w.key), w.version});
  }
  for (Request& q : commands)
    if (!add_command(std::move(q), map, home, &plan, why)) return std::nullopt;
  return plan;
}

Reply planned_reply(const PlannedTxn& plan, const txn::ClientOutcome& outcome) {
  if (outcome.kind != txn::ClientOutcome::Kind::committed) return txn::client_reply(outcome, {});
  std::vector<Reply> replies;
  replies.reserve(plan.replies.size());
  for (const ReplyRecipe& r : plan.replies) replies.push_back(combine(r, outcome));
  if (!plan.exec) return replies.empty() ? Reply::error("ERR missing result") : replies[0];
  return Reply::array(std::move(replies));
}

}  // namespace synod::kv
