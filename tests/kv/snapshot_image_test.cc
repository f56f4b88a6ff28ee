// The snapshot image against a serialisation written the plain way (a
// std::map for the key order, then one FNV-1a or CRC32C pass over the
// whole image): KvStore::Frozen::image sorts on key prefixes, prefetches
// and checksums piece by piece (snapshot_order.h, fnv1a.h), and must stay
// byte for byte what earlier releases wrote and read.
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>

#include "fnv1a.h"
#include "kv_command.h"
#include "kv_command_codec.h"
#include "kv_store.h"
#include "snapshot_order.h"
#include "synod/crc32c.h"

using namespace synod::kv;

namespace {

std::uint64_t plain_fnv1a(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

void put_le(std::string* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Keys that stress the order: common 16-byte prefixes (so the fallback to
// the whole key decides), zero bytes (a key and its extension by "\0" have
// equal padded prefixes), bytes above 0x7f (unsigned order), the empty key.
std::string random_key(std::mt19937_64& rng) {
  static const std::string kPrefixes[] = {"", "key:", "key:000000000000", "abcdefghijklmnop"};
  static const char kBytes[] = {'\0', '\x01', 'a', 'b', '\x7f', '\x80', '\xff'};
  std::string key = kPrefixes[rng() % 4];
  std::size_t extra = rng() % 6;
  for (std::size_t i = 0; i < extra; ++i) key.push_back(kBytes[rng() % sizeof kBytes]);
  return key;
}

struct Versioned {
  std::string value;
  std::uint64_t version = 0;
};

// SKVSNAP3 (FNV-1a) or 4 (CRC32C) of these pairs, as docs/kv.md lays it out.
std::string reference_image(const std::map<std::string, Versioned>& pairs,
                            std::uint64_t log_commands, std::uint64_t delete_version,
                            unsigned format) {
  std::string out = format >= 4 ? "SKVSNAP4" : "SKVSNAP3";
  put_varint(&out, log_commands);
  put_varint(&out, delete_version);
  put_varint(&out, pairs.size());
  for (const auto& [key, v] : pairs) {
    put_varint(&out, key.size());
    out += key;
    put_varint(&out, v.value.size());
    out += v.value;
    put_varint(&out, v.version);
  }
  put_varint(&out, 0);  // no member addresses
  if (format >= 4)
    put_le(&out, synod::crc32c(out), 4);
  else
    put_le(&out, plain_fnv1a(out), 8);
  return out;
}

}  // namespace

TEST_CASE("fnv1a extended piece by piece equals the plain loop over the whole") {
  // On a CPU without AVX-512 VBMI only the plain loop runs, and this checks
  // little; on this project's machine the vector path runs.
  const std::string path = fnv1a_vectorised() ? "vectorised" : "the plain loop";
  MESSAGE("fnv1a path: " << path);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    // Up to 12 000 bytes: groups of eight blocks, partial groups, tails.
    std::string bytes(rng() % (round % 10 == 0 ? 12000 : 3000), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::uint64_t h = kFnv1aOffset;
    for (std::size_t at = 0; at < bytes.size();) {
      std::size_t n = std::min<std::size_t>(rng() % 700, bytes.size() - at);
      h = fnv1a(h, std::string_view(bytes).substr(at, n));
      at += n;
    }
    REQUIRE(h == plain_fnv1a(bytes));
  }
  CHECK(fnv1a(kFnv1aOffset, "") == kFnv1aOffset);
  CHECK(fnv1a(kFnv1aOffset, "a") == 0xaf63dc4c8601ec8cull);  // the published test vector
}

TEST_CASE("the image is byte for byte the plain serialisation, in both formats") {
  std::mt19937_64 rng(15);
  for (int round = 0; round < 20; ++round) {
    KvStore store;
    std::map<std::string, Versioned> pairs;
    std::uint64_t applied = 0, delete_version = 0;
    int commands = 1 + static_cast<int>(rng() % 400);
    for (int c = 0; c < commands; ++c) {
      std::string key = random_key(rng);
      ++applied;
      if (rng() % 8 == 0) {
        store.apply(encode(Request{Op::del, {key}}));
        if (pairs.erase(key) > 0) delete_version = applied;
        continue;
      }
      std::string value(rng() % 300, static_cast<char>('a' + rng() % 26));
      store.apply(encode(Request{Op::set, {key, value}}));
      pairs[key] = Versioned{value, applied};
    }
    for (unsigned format : {3u, 4u}) {
      store.set_snapshot_format(format);
      std::string expected = reference_image(pairs, applied, delete_version, format);
      REQUIRE(store.snapshot() == expected);
      // The worker's path: frozen, then written.
      KvStore::Frozen frozen = store.freeze();
      CHECK(frozen.image() == expected);
      frozen.items.clear();
      store.thaw();
    }
  }
}

TEST_CASE("sorted_by_key orders keys that share their first 16 bytes by the rest") {
  KvStore store;
  for (std::string key : {std::string("abcdefghijklmnop\x01", 17), std::string("abcdefghijklmnop"),
                          std::string("abcdefghijklmnop\0", 17), std::string("abcdefghijklmno"),
                          std::string("abcdefghijklmnop\xff", 17), std::string("")})
    store.apply(encode(Request{Op::set, {key, "v"}}));
  KvStore::Frozen frozen = store.freeze();
  std::vector<KeyOrderEntry> sorted = sorted_by_key(frozen.items);
  REQUIRE(sorted.size() == 6);
  for (std::size_t i = 1; i < sorted.size(); ++i)
    CHECK(sorted[i - 1].item->key() < sorted[i].item->key());
  CHECK(sorted.front().item->key().empty());
  frozen.items.clear();
  store.thaw();
}
