// The log form of a single-group transaction (Op::txn): the keys WATCH
// recorded with the version each had, and the queued commands. One log
// entry, so it applies all at once on every replica (KvStore::apply).
//
// Format: Op::txn's generic encoding (kv_command_codec.h) whose first
// argument is the watch block and whose other arguments are each one queued
// command's own encode() bytes. Watch block (varints as in
// kv_command_codec.h): count, then per key: length, bytes, version.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kv_command.h"

namespace synod::kv {

// A version that no key ever has: a WATCH whose read failed records it, so
// the EXEC after it aborts (nil) instead of trusting an unknown state.
inline constexpr std::uint64_t kUnknownVersion = ~std::uint64_t{0};

struct WatchedKey {
  std::string key;
  std::uint64_t version = 0;
  friend bool operator==(const WatchedKey&, const WatchedKey&) = default;
};

struct WatchedKeyView {
  std::string_view key;
  std::uint64_t version = 0;
};

std::string encode_watch_block(std::span<const WatchedKey> watched);
// False, with *out unspecified, unless `bytes` is exactly one watch block.
bool decode_watch_block(std::string_view bytes, std::vector<WatchedKeyView>* out);

// Whether a command may sit inside a transaction: the replicated data
// commands, reads included (they answer in EXEC's array). Not txn itself,
// watch_versions, node_addresses, nor anything local or of the session.
bool allowed_in_txn(Op op);

// The txn request for EXEC. Precondition: allowed_in_txn(q.op) for each q
// and each came from parse_request.
Request make_txn(std::span<const WatchedKey> watched, std::span<const Request> queued);

}  // namespace synod::kv
