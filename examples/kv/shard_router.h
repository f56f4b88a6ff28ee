// Where a client command runs in a sharded synod-kv (--shards N, docs/kv.md
// "Shards"): the keys it touches, their hash slots, and the shards (Paxos
// groups) those fall in. Pure: the node (shard_node.h) asks it per command.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "hash_slot.h"
#include "kv_command.h"

namespace synod::kv {

// The keys of a replicated request, in argument order: every argument of
// GET/DEL/EXISTS/MGET/WATCH's read, the even ones of MSET/MSETNX, and for a
// txn (EXEC) the watched keys then each queued command's keys. Views into
// `request`. False when a txn's payload does not decode (a bug: the session
// built it).
bool keys_of(const Request& request, std::vector<std::string_view>* keys);

struct ShardRoute {
  bool has_keys = false;            // DBSIZE and a keyless EXEC have none
  bool cross_shard = false;         // the keys fall in more than one shard
  std::uint16_t slot = 0;           // the first key's hash slot
  std::size_t shard = 0;            // its shard (0-based; the group is shard + 1)
  std::vector<std::size_t> shards;  // every shard touched, first key's first
};

// False only when keys_of is.
bool route_request(const Request& request, const SlotMap& map, ShardRoute* route);

}  // namespace synod::kv
