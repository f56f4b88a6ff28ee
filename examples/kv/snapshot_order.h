// The pieces of a snapshot image's serialisation that its cost is in
// (KvStore::Frozen::image, docs/benchmarks.md "The snapshot worker (seventh
// round)"): the frozen items put in key order, and the FNV-1a checksum of
// SKVSNAP1 to 3, computed piece by piece as the image is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "key_table.h"

namespace synod::kv {

// A frozen item in the sort: the first 16 bytes of its key (big-endian,
// zero-padded), so that nearly every comparison is two integer compares on
// the record itself, not a memcmp through pointers into items scattered
// over the heap; and the item's size, so that the writer can prefetch it
// whole before reaching it.
struct KeyOrderEntry {
  std::uint64_t prefix_high = 0;  // key bytes 0-7
  std::uint64_t prefix_low = 0;   // key bytes 8-15
  const KeyTable::Item* item = nullptr;
  std::size_t item_bytes = 0;  // header, key and value
};

// The items in std::string_view order of their keys (bytes compared as
// unsigned, a shorter key before its extensions): the canonical order.
std::vector<KeyOrderEntry> sorted_by_key(const std::vector<const KeyTable::Item*>& items);

// Prefetches an item's bytes (header, key, value) into the cache for
// reading.
inline void prefetch_item_bytes(const KeyOrderEntry& e) {
  const char* p = reinterpret_cast<const char*>(e.item);
  for (std::size_t off = 0; off < e.item_bytes; off += 64) __builtin_prefetch(p + off);
}

constexpr std::uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;
constexpr std::uint64_t kFnv1aPrime = 0x100000001b3ull;

// 64-bit FNV-1a, a byte at a time: extends the running hash h (kFnv1aOffset
// to start), so fnv1a(fnv1a(kFnv1aOffset, a), b) == fnv1a(kFnv1aOffset, a + b).
// Each byte waits for the last one's multiply: the snapshot worker calls it
// on each item's bytes just written, while the cache still holds them and
// the next items' loads are under way, rather than in a second pass.
// Where the CPU has AVX-512 (VBMI) and carry-less multiplies, whole blocks
// of 64 bytes take another, exact formulation without that chain
// (snapshot_order.cc); fnv1a_vectorised() tells whether it is in use.
std::uint64_t fnv1a(std::uint64_t h, std::string_view bytes);
bool fnv1a_vectorised();

}  // namespace synod::kv
