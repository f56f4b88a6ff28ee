// The replicated state machine of synod-kv: a map from keys to values that
// every replica changes by applying the same log commands in the same order.
//
// Contract: apply() is deterministic. Its reply and the resulting state
// depend only on the state before and the command bytes: no clocks, no
// randomness, no iteration order of a hash table leaks out. Replicas that
// applied the same commands therefore have equal digest() and snapshot().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kv_command.h"
#include "resp_reply.h"

namespace synod::kv {

class KvStore {
 public:
  // Applies one log command (kv_command_codec.h) and returns the client's
  // reply. Malformed bytes change nothing and answer
  // "ERR malformed log command", identically on every replica.
  Reply apply(std::string_view log_command);
  // Applies a decoded request. Precondition: route_of(request.op) != local.
  // Takes it by value so SET moves its key and value into the map.
  Reply execute(Request request);

  std::size_t key_count() const { return data_.size(); }
  // The value stored under `key`, or nullptr. Valid until the next change.
  const std::string* find(std::string_view key) const;

  // FNV-1a (64 bit) over the key/value pairs in key order, each field as an
  // 8-byte little-endian length then its bytes. Equal contents, equal
  // digest, whatever the insertion history.
  std::uint64_t digest() const;

  // The whole state as bytes, canonical (keys in order), checksummed.
  std::string snapshot() const;
  // Replaces the state with a snapshot. Returns false, leaving the state
  // unchanged, if `bytes` is not a well-formed snapshot.
  bool restore(std::string_view bytes);

 private:
  // Transparent hashing lets GET and EXISTS look up a string_view key
  // without building a std::string.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::string, Hash, std::equal_to<>>;

  Reply set(Request& request);
  Reply incr(const std::string& key);

  Map data_;
};

}  // namespace synod::kv
