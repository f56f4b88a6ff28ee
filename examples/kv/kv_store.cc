#include "kv_store.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "fnv1a.h"
#include "kv_command_codec.h"
#include "resp_parser.h"
#include "snapshot_order.h"
#include "synod/crc32c.h"

namespace synod::kv {
namespace {

// Names the format so that restore() refuses bytes that are something else.
constexpr std::string_view kSnapshotMagic = "SKVSNAP1";
// The same, then the member addresses (only when there are any).
constexpr std::string_view kSnapshotMagicAddresses = "SKVSNAP2";
// With the counters and each key's version (KvStore::version_of), then the
// member addresses (a count, maybe zero). Written by default: the previous
// release reads no later format (set_snapshot_format).
constexpr std::string_view kSnapshotMagicVersions = "SKVSNAP3";
// SKVSNAP3's layout with a CRC32C in place of the FNV-1a: FNV-1a written
// plainly takes a dependent multiply per byte (an image of 100 000 keys of
// 256 bytes took 78-95 ms, 39-45 with CRC32C, which the hardware does 8
// bytes at a time). fnv1a.h now does without that chain where the CPU has
// AVX-512 VBMI: 26-28 ms against 14-21 (docs/benchmarks.md, "The snapshot
// worker (seventh round)").
constexpr std::string_view kSnapshotMagicCrc = "SKVSNAP4";
static_assert(kSnapshotMagic.size() == kSnapshotMagicAddresses.size());
static_assert(kSnapshotMagic.size() == kSnapshotMagicVersions.size());
static_assert(kSnapshotMagic.size() == kSnapshotMagicCrc.size());
constexpr std::size_t kChecksumBytes = 8;     // FNV-1a, SKVSNAP1 to 3
constexpr std::size_t kCrcChecksumBytes = 4;  // CRC32C, SKVSNAP4

void put_u64_le(std::string* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_u64_le(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<std::uint8_t>(in[i])} << (8 * i);
  return v;
}

void put_u32_le(std::string* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint32_t get_u32_le(std::string_view in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<std::uint8_t>(in[i])} << (8 * i);
  return v;
}

// splitmix64's finaliser: every input bit reaches every output bit, so a
// sum of mixed hashes does not cancel in patterned ways.
std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Eight bytes little-endian, whatever the host's byte order.
std::uint64_t load_u64_le(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// Four independent lanes of eight bytes, so a 256-byte value is 8 rounds
// of multiplies the CPU overlaps, not 32 rounds that each wait for the
// last (this runs on every SET on every replica). Lane i takes the words
// at 32k + 8i; the words past the last full 32 bytes go to lane 0 in turn,
// and the last 1-7 bytes, little-endian, are one more word.
std::uint64_t hash_field(std::uint64_t h, std::string_view bytes) {
  h = mix64(h ^ bytes.size());
  std::uint64_t lane[4] = {h, h ^ 0x9e3779b97f4a7c15ull, h ^ 0xc2b2ae3d27d4eb4full,
                           h ^ 0x165667b19e3779f9ull};
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  for (; n >= 32; p += 32, n -= 32) {
    for (int i = 0; i < 4; ++i) {
      lane[i] = (lane[i] ^ load_u64_le(p + 8 * i)) * kFnv1aPrime;
      lane[i] ^= lane[i] >> 29;
    }
  }
  for (; n >= 8; p += 8, n -= 8) {
    lane[0] = (lane[0] ^ load_u64_le(p)) * kFnv1aPrime;
    lane[0] ^= lane[0] >> 29;
  }
  std::uint64_t tail = 0;
  for (std::size_t k = 0; k < n; ++k)
    tail |= std::uint64_t{static_cast<std::uint8_t>(p[k])} << (8 * k);
  h = (lane[0] ^ tail) * kFnv1aPrime;
  for (int i = 1; i < 4; ++i) h = mix64(h ^ lane[i]);
  return h;
}

bool get_field(std::string_view* in, std::string_view* field) {
  std::uint64_t len = 0;
  if (!get_varint(in, &len) || len > in->size()) return false;
  *field = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

bool parse_id(std::string_view text, std::uint64_t* id) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *id);
  return ec == std::errc() && end == text.data() + text.size() && *id > 0;
}

}  // namespace

Reply KvStore::apply(std::string_view log_command) {
  if (next_prefetched_ < prefetched_.size()) prefetch_ahead();
  ++log_commands_;  // counted even when malformed: the same on every replica
  // Cannot come from our own encode(); answering the same error everywhere
  // keeps replicas identical even if a bad entry got into the log.
  if (!decode_view(log_command, &decoded_)) return Reply::error("ERR malformed log command");
  // SET, the common command, goes from the log bytes to the table: an
  // overwritten value of the same size or smaller is written in place.
  if (decoded_.op == Op::set) return set(decoded_.condition, decoded_.args[0], decoded_.args[1]);
  Request request;
  request.op = decoded_.op;
  request.condition = decoded_.condition;
  request.args.assign(decoded_.args.begin(), decoded_.args.end());
  return execute(std::move(request));
}

namespace {

// The first argument of a log command (the key of every keyed command), or
// nullopt. Lenient, as only a prefetch follows: apply() does the checking.
std::optional<std::string_view> first_argument(std::string_view in) {
  if (in.empty()) return std::nullopt;
  auto op = static_cast<Op>(static_cast<std::uint8_t>(in[0]));
  std::size_t header = op == Op::set ? 2 : 1;  // the tag, and SET's condition
  if (in.size() <= header) return std::nullopt;
  in.remove_prefix(header);
  std::uint64_t count = 0, len = 0;
  if (!get_varint(&in, &count) || count == 0 || !get_varint(&in, &len) || len > in.size())
    return std::nullopt;
  return in.substr(0, len);
}

// How far ahead of the command being applied its successors' loads start:
// slots first, items (whose address is in the slot) once the slot had time
// to arrive. A few commands' apply time covers a miss to memory.
constexpr std::size_t kSlotsAhead = 8;
constexpr std::size_t kItemsAhead = 4;

}  // namespace

void KvStore::prefetch(synod::CommandsView log_commands) {
  prefetched_.clear();
  next_prefetched_ = 0;
  // A key space the caches nearly hold gains nothing: there the extra parse,
  // hash and prefetches cost ~40 ns per SET (bench/kv_apply_bench.cc: no
  // gain at 20 000 keys of 256 bytes, 5 MB; 2.5x faster at 50 000, 14 MB).
  if (data_bytes_ < prefetch_above_bytes_) return;
  for (std::string_view c : log_commands) {
    std::optional<std::string_view> key = first_argument(c);
    prefetched_.push_back(key ? KeyTable::hash_key(*key) : 0);
  }
  for (std::size_t i = 0; i < std::min(kSlotsAhead, prefetched_.size()); ++i)
    data_.prefetch_slot(prefetched_[i]);
  for (std::size_t i = 0; i < std::min(kItemsAhead, prefetched_.size()); ++i)
    data_.prefetch_item(prefetched_[i]);
}

// Called by apply(): the batch's next command is being applied, so the one
// kSlotsAhead after it gets its slot loaded and the one kItemsAhead after
// it its item. Only hashes are kept, so a batch not applied to its end
// (or other applies between) costs at worst a useless prefetch.
void KvStore::prefetch_ahead() {
  std::size_t now = next_prefetched_++;
  if (now + kSlotsAhead < prefetched_.size()) data_.prefetch_slot(prefetched_[now + kSlotsAhead]);
  if (now + kItemsAhead < prefetched_.size()) data_.prefetch_item(prefetched_[now + kItemsAhead]);
}

Reply KvStore::execute(Request r) {
  switch (r.op) {
    case Op::get: {
      auto v = find(r.args[0]);
      return v ? Reply::bulk(std::string(*v)) : Reply::null();
    }
    case Op::set:
      return set(r.condition, r.args[0], r.args[1]);
    case Op::del:
      return del(r);
    case Op::incr:
      return add(r.args[0], 1);
    case Op::decr:
      return add(r.args[0], -1);
    case Op::incrby:
    case Op::decrby:
      return add_parsed(r);
    case Op::getset:
      return getset(r);
    case Op::mset:
      return mset(r, false);
    case Op::msetnx:
      return mset(r, true);
    case Op::mget:
      return mget(r);
    case Op::txn:
      return txn(r);
    case Op::watch_versions:
      return watch_versions(r);
    case Op::exists: {
      // Redis counts a key once per mention: EXISTS k k answers 2.
      std::int64_t found = 0;
      for (const auto& key : r.args) found += data_.contains(key) ? 1 : 0;
      return Reply::integer(found);
    }
    case Op::dbsize:
      return Reply::integer(static_cast<std::int64_t>(data_.size()));
    case Op::node_addresses:
      return set_addresses(r);
    default:
      break;
  }
  std::fprintf(stderr, "synod-kv: execute of local request '%.*s'\n",
               static_cast<int>(name_of(r.op).size()), name_of(r.op).data());
  std::abort();
}

Reply KvStore::set(SetCondition condition, std::string_view key, std::string_view value) {
  // Redis's text for a bulk string past proto-max-bulk-len; only a
  // hand-made log entry gets here (the RESP limits are lower), and every
  // replica answers it alike.
  if (key.size() > KeyTable::kMaxFieldBytes || value.size() > KeyTable::kMaxFieldBytes)
    return Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  Item* item = data_.find(key);
  bool present = item != nullptr;
  // Redis answers a SET that NX or XX declined with a null bulk.
  if (condition == SetCondition::if_absent && present) return Reply::null();
  if (condition == SetCondition::if_present && !present) return Reply::null();
  // Hashed from the command's bytes, before they are written: the item's
  // copy of a streamed value is not in the cache (KeyTable::assign), and
  // `value` may be a view of the old item, gone once assign() moved it.
  std::uint64_t hash = pair_hash(key, value);
  if (present) {
    uncount(*item);
    item = data_.assign(item, value);
  } else {
    item = data_.insert(key, value);
  }
  item->version = log_commands_;
  count(*item, hash);
  return Reply::ok();
}

void KvStore::put(std::string_view key, std::string_view value) {
  set(SetCondition::always, key, value);
}

// INCR, DECR, INCRBY, DECRBY: Redis's checks and texts.
Reply KvStore::add(std::string_view key, std::int64_t delta) {
  const Item* item = data_.find(key);
  std::int64_t value = 0;
  if (item && !parse_redis_int64(item->value(), &value)) {
    return Reply::error("ERR value is not an integer or out of range");
  }
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  if ((delta > 0 && value > kMax - delta) || (delta < 0 && value < kMin - delta)) {
    return Reply::error("ERR increment or decrement would overflow");
  }
  value += delta;
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;  // 20 characters always fit an int64
  put(key, std::string_view(buf, static_cast<std::size_t>(end - buf)));
  return Reply::integer(value);
}

Reply KvStore::add_parsed(const Request& r) {
  std::int64_t amount = 0;
  if (!parse_redis_int64(r.args[1], &amount)) {
    return Reply::error("ERR value is not an integer or out of range");
  }
  if (r.op == Op::incrby) return add(r.args[0], amount);
  // Its negation does not fit: Redis refuses it before looking at the key.
  if (amount == std::numeric_limits<std::int64_t>::min()) {
    return Reply::error("ERR decrement would overflow");
  }
  return add(r.args[0], -amount);
}

Reply KvStore::getset(const Request& r) {
  auto old = find(r.args[0]);
  Reply reply = old ? Reply::bulk(std::string(*old)) : Reply::null();
  put(r.args[0], r.args[1]);
  return reply;
}

// MSET, and MSETNX (only_if_none): all pairs, or with MSETNX none when any
// key exists. Later pairs win over earlier ones with the same key.
Reply KvStore::mset(const Request& r, bool only_if_none) {
  if (only_if_none) {
    for (std::size_t i = 0; i < r.args.size(); i += 2) {
      if (data_.contains(r.args[i])) return Reply::integer(0);
    }
  }
  for (std::size_t i = 0; i + 1 < r.args.size(); i += 2) put(r.args[i], r.args[i + 1]);
  return only_if_none ? Reply::integer(1) : Reply::ok();
}

Reply KvStore::mget(const Request& r) const {
  std::vector<Reply> values;
  values.reserve(r.args.size());
  for (const auto& key : r.args) {
    auto v = find(key);
    values.push_back(v ? Reply::bulk(std::string(*v)) : Reply::null());
  }
  return Reply::array(std::move(values));
}

Reply KvStore::del(const Request& r) {
  std::int64_t removed = 0;
  for (const auto& key : r.args) {
    Item* item = data_.find(key);
    if (!item) continue;
    uncount(*item);
    data_.erase(item);
    ++removed;
  }
  if (removed > 0) delete_version_ = log_commands_;
  return Reply::integer(removed);
}

std::uint64_t KvStore::version_of(std::string_view key) const {
  const Item* item = data_.find(key);
  return item ? item->version : delete_version_;
}

// All or nothing: a bad id changes no address, on every replica alike.
Reply KvStore::set_addresses(const Request& r) {
  std::vector<std::pair<std::uint64_t, MemberAddress>> parsed;
  for (std::size_t i = 0; i + 2 < r.args.size(); i += 3) {
    std::uint64_t id = 0;
    if (!parse_id(r.args[i], &id)) return Reply::error("ERR malformed node id in member addresses");
    parsed.push_back({id, MemberAddress{r.args[i + 1], r.args[i + 2]}});
  }
  for (auto& [id, address] : parsed) {
    MemberAddress& slot = addresses_[id];
    if (slot == address) continue;
    slot = std::move(address);
    ++addresses_version_;
  }
  return Reply::ok();
}

FoundValue KvStore::find(std::string_view key) const {
  const Item* item = data_.find(key);
  if (!item) return std::nullopt;
  return item->value();
}

std::uint64_t KvStore::pair_hash(std::string_view key, std::string_view value) {
  return mix64(hash_field(hash_field(kFnv1aOffset, key), value));
}

void KvStore::count(Item& item, std::uint64_t hash) {
  item.pair_hash = hash;
  digest_ += hash;
  data_bytes_ += std::uint64_t{item.key_size} + item.value_size;
  // Past the caches' size, prefetch() announces batches and in-place
  // values are streamed (KeyTable::stream_values).
  data_.stream_values(data_bytes_ >= prefetch_above_bytes_);
}

// The pair's hash as count() kept it: an overwrite hashes the new pair only.
void KvStore::uncount(const Item& item) {
  digest_ -= item.pair_hash;
  data_bytes_ -= std::uint64_t{item.key_size} + item.value_size;
}

std::uint64_t KvStore::recompute_digest() const {
  std::uint64_t sum = 0;
  data_.for_each([&](const Item& i) { sum += pair_hash(i.key(), i.value()); });
  return sum;
}

namespace {

// How many items ahead of the one being copied into the image the next
// ones' bytes are prefetched: copying and checksumming an item of ~300
// bytes takes about as long as a miss to memory (~100 ns).
constexpr std::size_t kWriteAhead = 4;
// The checksum is brought up to date whenever this many bytes were written
// since: 4 KiB, which the L1 cache still holds.
constexpr std::size_t kChecksumChunk = 4096;

}  // namespace

// Layout: magic, varint count, then per pair in key order varint key
// length, key, varint value length, value; with SKVSNAP2 then a varint
// count of member addresses and per member in id order varint id, varint
// length and peer address, varint length and client address; last the
// FNV-1a of all that as 8 bytes little-endian. Canonical: equal states,
// equal bytes.
//
// SKVSNAP3: magic, varint log_commands_, varint delete_version_, varint
// count, then per pair in key order key, value (each varint length and
// bytes) and varint version; then a varint count of member addresses (zero
// allowed) and each as in SKVSNAP2; last the FNV-1a as in SKVSNAP1.
//
// SKVSNAP4 (with set_snapshot_format(4)): the same, but the last 4 bytes
// are the CRC32C (little-endian) of all before them.
std::string KvStore::Frozen::image() const {
  // Versions never exceed log_commands: with none applied, all are zero.
  bool versioned = log_commands > 0;
  // The sort records carry each item's size: the items themselves are not
  // read again (a cache miss each) to size the image.
  std::vector<KeyOrderEntry> sorted = sorted_by_key(items);
  std::size_t size = kSnapshotMagic.size() + 40 + kChecksumBytes;
  for (const KeyOrderEntry& e : sorted) size += 30 + e.item_bytes - sizeof(Item);
  for (const auto& [id, a] : addresses) size += 30 + a.peer.size() + a.client.size();
  std::string out;
  out.reserve(size);
  if (versioned) {
    out.append(format >= 4 ? kSnapshotMagicCrc : kSnapshotMagicVersions);
    put_varint(&out, log_commands);
    put_varint(&out, delete_version);
  } else {
    out.append(addresses.empty() ? kSnapshotMagic : kSnapshotMagicAddresses);
  }
  // The checksum follows the writing (checksum_written), over bytes the
  // cache still holds, and each item's bytes start loading a few items
  // before they are copied: the copy's cache misses overlap the FNV-1a's
  // chain of multiplies instead of adding to it.
  bool crc = versioned && format >= 4;
  std::uint64_t fnv = kFnv1aOffset;
  std::uint32_t crc32 = 0;
  std::size_t checksummed = 0;
  auto checksum_written = [&] {
    std::string_view fresh = std::string_view(out).substr(checksummed);
    if (crc)
      crc32 = synod::crc32c(fresh, crc32);
    else
      fnv = fnv1a(fnv, fresh);
    checksummed = out.size();
  };
  put_varint(&out, items.size());
  for (std::size_t n = 0; n < sorted.size(); ++n) {
    if (n + kWriteAhead < sorted.size()) prefetch_item_bytes(sorted[n + kWriteAhead]);
    const Item* i = sorted[n].item;
    put_varint(&out, i->key_size);
    out.append(i->key());
    put_varint(&out, i->value_size);
    out.append(i->value());
    if (versioned) put_varint(&out, i->version);
    if (out.size() - checksummed >= kChecksumChunk) checksum_written();
  }
  if (versioned || !addresses.empty()) {
    put_varint(&out, addresses.size());
    for (const auto& [id, a] : addresses) {
      put_varint(&out, id);
      put_varint(&out, a.peer.size());
      out.append(a.peer);
      put_varint(&out, a.client.size());
      out.append(a.client);
    }
  }
  checksum_written();
  if (crc)
    put_u32_le(&out, crc32);
  else
    put_u64_le(&out, fnv);
  return out;
}

std::string KvStore::snapshot() const {
  Frozen state;
  state.items.reserve(data_.size());
  data_.for_each([&](const Item& i) { state.items.push_back(&i); });
  state.log_commands = log_commands_;
  state.delete_version = delete_version_;
  state.addresses = addresses_;
  state.format = snapshot_format_;
  return state.image();
}

KvStore::Frozen KvStore::freeze() {
  Frozen state;
  state.items = data_.freeze();
  state.log_commands = log_commands_;
  state.delete_version = delete_version_;
  state.addresses = addresses_;
  state.format = snapshot_format_;
  return state;
}

void KvStore::thaw() { data_.thaw(); }

namespace {

// The address tail: ids strictly increasing (canonical), each one valid.
// SKVSNAP2 has at least one member (else it is SKVSNAP1); SKVSNAP3 may
// have none.
bool get_addresses(std::string_view* body, MemberAddresses* out, bool may_be_empty) {
  std::uint64_t count = 0;
  // Each member takes at least three bytes, which bounds the loop.
  if (!get_varint(body, &count) || count > body->size() / 3) return false;
  if (count == 0 && !may_be_empty) return false;
  std::uint64_t previous = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t id = 0;
    std::string_view peer, client;
    if (!get_varint(body, &id) || id <= previous) return false;
    if (!get_field(body, &peer) || !get_field(body, &client)) return false;
    out->emplace(id, MemberAddress{std::string(peer), std::string(client)});
    previous = id;
  }
  return true;
}

}  // namespace

bool KvStore::restore(std::string_view bytes) {
  bool crc = bytes.starts_with(kSnapshotMagicCrc);
  std::size_t checksum_bytes = crc ? kCrcChecksumBytes : kChecksumBytes;
  if (bytes.size() < kSnapshotMagic.size() + checksum_bytes) return false;
  std::string_view body = bytes.substr(0, bytes.size() - checksum_bytes);
  std::string_view sum = bytes.substr(body.size());
  if (crc ? get_u32_le(sum) != synod::crc32c(body) : get_u64_le(sum) != fnv1a(kFnv1aOffset, body))
    return false;
  bool with_addresses = body.starts_with(kSnapshotMagicAddresses);
  bool with_versions = crc || body.starts_with(kSnapshotMagicVersions);
  if (!with_addresses && !with_versions && !body.starts_with(kSnapshotMagic)) return false;
  body.remove_prefix(kSnapshotMagic.size());
  std::uint64_t log_commands = 0, delete_version = 0;
  if (with_versions) {
    // An image with no command applied is written as SKVSNAP1 or 2.
    if (!get_varint(&body, &log_commands) || log_commands == 0) return false;
    if (!get_varint(&body, &delete_version) || delete_version > log_commands) return false;
  }
  std::uint64_t count = 0;
  // Each pair takes at least two bytes, which bounds the reserve below.
  if (!get_varint(&body, &count) || count > body.size() / 2) return false;
  KeyTable restored;
  restored.reserve(count);
  std::uint64_t digest = 0, data_bytes = 0;
  std::string_view previous;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string_view key, value;
    if (!get_field(&body, &key) || !get_field(&body, &value)) return false;
    if (key.size() > KeyTable::kMaxFieldBytes || value.size() > KeyTable::kMaxFieldBytes)
      return false;
    // Strictly increasing keys: no duplicates, and only the canonical form.
    if (i > 0 && key <= previous) return false;
    std::uint64_t version = 0;
    if (with_versions && (!get_varint(&body, &version) || version > log_commands)) return false;
    std::uint64_t hash = pair_hash(key, value);
    KeyTable::Item* item = restored.insert(key, value);
    item->version = version;
    item->pair_hash = hash;
    digest += hash;
    data_bytes += key.size() + value.size();
    previous = key;
  }
  MemberAddresses addresses;
  if ((with_addresses || with_versions) && !get_addresses(&body, &addresses, with_versions))
    return false;
  if (!body.empty()) return false;
  // A frozen view (a snapshot being serialised) keeps the old items.
  data_.replace_with(std::move(restored));
  digest_ = digest;
  data_bytes_ = data_bytes;
  data_.stream_values(data_bytes_ >= prefetch_above_bytes_);
  log_commands_ = log_commands;
  delete_version_ = delete_version;
  if (addresses != addresses_) {
    addresses_.swap(addresses);
    ++addresses_version_;
  }
  return true;
}

}  // namespace synod::kv
