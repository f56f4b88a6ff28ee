#include "shard_router.h"

#include <algorithm>

#include "kv_command_codec.h"
#include "txn_codec.h"

namespace synod::kv {
namespace {

// The keys of one non-txn request (args as views into its storage).
template <typename Args>
void plain_keys(Op op, const Args& args, std::vector<std::string_view>* keys) {
  switch (op) {
    case Op::get:
    case Op::set:
    case Op::incr:
    case Op::incrby:
    case Op::decrby:
    case Op::decr:
    case Op::getset:
      if (!args.empty()) keys->push_back(args[0]);
      return;
    case Op::del:
    case Op::exists:
    case Op::mget:
    case Op::watch_versions:
    case Op::watch:
      for (const auto& a : args) keys->push_back(a);
      return;
    case Op::mset:
    case Op::msetnx:
      for (std::size_t i = 0; i < args.size(); i += 2) keys->push_back(args[i]);
      return;
    default:
      return;  // DBSIZE, node_addresses and the local ops have no key
  }
}

}  // namespace

bool keys_of(const Request& request, std::vector<std::string_view>* keys) {
  keys->clear();
  if (request.op != Op::txn) {
    plain_keys(request.op, request.args, keys);
    return true;
  }
  if (request.args.empty()) return false;
  std::vector<WatchedKeyView> watched;
  if (!decode_watch_block(request.args[0], &watched)) return false;
  for (const WatchedKeyView& w : watched) keys->push_back(w.key);
  RequestView view;
  for (std::size_t i = 1; i < request.args.size(); ++i) {
    if (!decode_view(request.args[i], &view)) return false;
    plain_keys(view.op, view.args, keys);
  }
  return true;
}

bool route_request(const Request& request, const SlotMap& map, ShardRoute* route) {
  std::vector<std::string_view> keys;
  if (!keys_of(request, &keys)) return false;
  *route = ShardRoute{};
  if (keys.empty()) return true;
  route->has_keys = true;
  route->slot = key_slot(keys[0]);
  route->shard = map.shard_of_slot(route->slot);
  route->shards.push_back(route->shard);
  for (std::string_view k : keys) {
    std::size_t s = map.shard_of_key(k);
    if (std::find(route->shards.begin(), route->shards.end(), s) == route->shards.end())
      route->shards.push_back(s);
  }
  route->cross_shard = route->shards.size() > 1;
  return true;
}

}  // namespace synod::kv
