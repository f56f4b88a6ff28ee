// The key order of a snapshot image (KvStore::Frozen::image,
// docs/benchmarks.md "The snapshot worker (seventh round)"): the frozen
// items sorted by key, cheaply, with what the writer needs to prefetch them.
#pragma once

#include <cstddef>
#include <cstdint>
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

}  // namespace synod::kv
