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
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "key_table.h"
#include "kv_command.h"
#include "kv_command_codec.h"
#include "resp_reply.h"
#include "synod/value.h"

namespace synod::kv {

// Where a member is reached, as CLUSTER ADDNODE / ADDLEARNER logged it
// (Op::node_addresses).
struct MemberAddress {
  std::string peer;    // consensus traffic (its --peers entry)
  std::string client;  // Redis clients (its --listen)
  friend bool operator==(const MemberAddress&, const MemberAddress&) = default;
};
using MemberAddresses = std::map<std::uint64_t, MemberAddress>;  // by node id

// What KvStore::find() returns: a view of the value's bytes (valid until the
// next change of the store), or nothing. It compares equal to nullptr when
// empty, as the `const std::string*` it replaced did, so `find(k) == nullptr`
// still reads as before.
struct FoundValue : std::optional<std::string_view> {
  using std::optional<std::string_view>::optional;
  friend bool operator==(const FoundValue& v, std::nullptr_t) { return !v.has_value(); }
};

class KvStore {
 public:
  // Applies one log command (kv_command_codec.h) and returns the client's
  // reply. Malformed bytes change nothing and answer
  // "ERR malformed log command", identically on every replica. Each call
  // counts one log command (log_commands()); the keys it writes take that
  // count as their version.
  Reply apply(std::string_view log_command);
  // Announces the next log commands apply() will be given, in this order:
  // as each is applied, the key table's slot and item of a command a few
  // places later start loading (KeyTable::prefetch_slot), so the batch's
  // cache misses overlap with applying instead of following one another.
  // Changes no state; any bytes are fine (a malformed command is skipped,
  // and applies that do not follow the announcement only waste a
  // prefetch). A replica calls it with each committed batch before applying
  // its commands one by one (UvHostOptions::before_apply).
  void prefetch(synod::CommandsView log_commands);
  // The key space size (bytes of keys and values, 8 MiB by default) above
  // which prefetch() works and values overwritten in place are streamed:
  // tests and the fuzzer lower it to run those paths on a small store.
  void set_prefetch_above_bytes_for_test(std::uint64_t bytes) { prefetch_above_bytes_ = bytes; }
  // Applies a decoded request. Precondition: route_of(request.op) != local.
  Reply execute(Request request);

  // The version WATCH records and a transaction's check compares
  // (docs/kv.md, "Transactions"): a present key's is the log_commands()
  // count of the command that last wrote it; an absent key's is that of the
  // last command that deleted any key, so a key deleted (or deleted and
  // re-created) after WATCH counts as changed. Part of the replicated state
  // (in snapshots), so every replica's check agrees.
  std::uint64_t version_of(std::string_view key) const;
  // Log commands applied so far (restored from snapshots).
  std::uint64_t log_commands() const { return log_commands_; }
  // Counts a log command the store does not apply itself (a cross-shard
  // transaction's entry, shard_txns.h), so the keys its commit writes
  // through execute() get a new version.
  void count_log_command() { ++log_commands_; }

  // User keys only: member addresses are not keys.
  std::size_t key_count() const { return data_.size(); }
  // Bytes of user keys and values (what a snapshot image roughly holds).
  std::uint64_t data_bytes() const { return data_bytes_; }
  // The value stored under `key`, or nothing. Valid until the next change.
  FoundValue find(std::string_view key) const;

  // The member addresses logged so far. Kept apart from the key space (no
  // user key can reach or shadow them; not in DBSIZE or digest()), but in
  // snapshots, so a replica that installs one knows every member.
  const MemberAddresses& member_addresses() const { return addresses_; }
  // Changes whenever member_addresses() does (applied or restored), so the
  // node can tell after each apply at no cost.
  std::uint64_t addresses_version() const { return addresses_version_; }

  // The sum (mod 2^64) over the key/value pairs of a 64-bit hash of each
  // pair (pair_hash()). Equal contents, equal digest, whatever the insertion
  // history. Kept up to date as commands apply, so INFO reads it in O(1)
  // however large the key space (docs/kv.md).
  std::uint64_t digest() const { return digest_; }
  // The same digest computed from scratch over every pair: O(keys), for
  // tests that check the incremental one.
  std::uint64_t recompute_digest() const;
  // The hash of one pair: each field's length mixed in, then its bytes read
  // 8 bytes (little-endian) at a time into four interleaved lanes, then
  // mixed. Deterministic on every platform, so replicas agree.
  static std::uint64_t pair_hash(std::string_view key, std::string_view value);

  // The whole state as bytes, canonical (keys in order), checksummed. A
  // store that applied a log command writes SKVSNAP4 (with key versions,
  // CRC32C); one that never did (only execute() or a restored versionless
  // image) writes the earlier formats: SKVSNAP1, or SKVSNAP2 with member
  // addresses (FNV-1a). restore() reads all four: SKVSNAP3 is SKVSNAP4
  // with an FNV-1a, as releases before SKVSNAP4 wrote it (an earlier
  // format's keys have version 0).
  std::string snapshot() const;
  // The same image in two steps, so that it can be serialised on another
  // thread while commands go on applying (kv_node.cc): freeze() on the
  // loop (a pointer per key, no key or value bytes copied), image() on any
  // thread, then thaw() on the loop once image() returned. Between the two,
  // a write to a frozen key copies its item (KeyTable::freeze).
  struct Frozen {
    std::vector<const KeyTable::Item*> items;  // unordered
    std::uint64_t log_commands = 0;
    std::uint64_t delete_version = 0;
    MemberAddresses addresses;
    unsigned format = 3;  // the version a versioned image is written in (set_snapshot_format)
    // snapshot()'s bytes as they were at freeze(). Reads only the frozen
    // items and this struct: safe beside the loop's changes.
    std::string image() const;
  };
  // The image a store with applied commands writes: SKVSNAP3 (FNV-1a, what
  // the previous release reads) or SKVSNAP4 (CRC32C). Both are always read.
  // A rolling upgrade takes two steps, as for the wire (docs/wire.md): write
  // 4 only once every member runs a release that reads it (docs/kv.md).
  void set_snapshot_format(unsigned format) { snapshot_format_ = format; }
  // Precondition: not frozen.
  Frozen freeze();
  void thaw();
  bool frozen() const { return data_.frozen(); }
  // Replaces the state with a snapshot. Returns false, leaving the state
  // unchanged, if `bytes` is not a well-formed snapshot.
  bool restore(std::string_view bytes);

 private:
  // Each item keeps its version (version_of()) and its pair_hash(), as
  // added to digest_: taken back on overwrite or delete without hashing the
  // old value again.
  using Item = KeyTable::Item;

  Reply set(SetCondition condition, std::string_view key, std::string_view value);
  void put(std::string_view key, std::string_view value);
  Reply add(std::string_view key, std::int64_t delta);
  Reply add_parsed(const Request& r);  // INCRBY, DECRBY: the amount checked here
  Reply getset(const Request& r);
  Reply mset(const Request& r, bool only_if_none);
  Reply mget(const Request& r) const;
  Reply del(const Request& r);
  // Op::txn (kv_store_txn.cc): the watch check, then each command in turn.
  Reply txn(const Request& r);
  Reply watch_versions(const Request& r) const;
  Reply set_addresses(const Request& request);
  // Keep digest_ and data_bytes_ in step with a pair added or removed;
  // count() stores the pair's hash (pair_hash() of its key and value) in
  // the item for uncount().
  void count(Item& item, std::uint64_t hash);
  void uncount(const Item& item);

  KeyTable data_;
  std::uint64_t log_commands_ = 0;    // apply() calls: the version of its writes
  std::uint64_t delete_version_ = 0;  // log_commands_ of the last deletion
  RequestView decoded_;               // apply()'s scratch, so decoding allocates nothing
  // prefetch()'s batch: the key hash of each command (0 when it has none),
  // and the index of the one the next apply() is taken to be.
  // Past the caches' size (8 MiB of keys and values), prefetch() announces
  // batches and in-place values are streamed.
  std::uint64_t prefetch_above_bytes_ = std::uint64_t{8} << 20;
  std::vector<std::uint64_t> prefetched_;
  std::size_t next_prefetched_ = 0;
  void prefetch_ahead();
  unsigned snapshot_format_ = 3;
  std::uint64_t digest_ = 0;  // recompute_digest(), maintained on every change
  std::uint64_t data_bytes_ = 0;
  MemberAddresses addresses_;
  std::uint64_t addresses_version_ = 0;
};

}  // namespace synod::kv
