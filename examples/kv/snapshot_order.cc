#include "snapshot_order.h"

#include <algorithm>
#include <cstring>

namespace synod::kv {
namespace {

std::uint64_t load_u64_be(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// How many items ahead of the one being read for the sort records its
// header and key start loading: the items lie in table order, scattered.
constexpr std::size_t kPrefetchAhead = 8;

}  // namespace

std::vector<KeyOrderEntry> sorted_by_key(const std::vector<const KeyTable::Item*>& items) {
  std::vector<KeyOrderEntry> entries;
  entries.reserve(items.size());
  for (std::size_t n = 0; n < items.size(); ++n) {
    if (n + kPrefetchAhead < items.size()) __builtin_prefetch(items[n + kPrefetchAhead]);
    const KeyTable::Item* i = items[n];
    std::string_view key = i->key();
    unsigned char prefix[16] = {};
    std::memcpy(prefix, key.data(), std::min<std::size_t>(key.size(), sizeof prefix));
    entries.push_back(KeyOrderEntry{load_u64_be(prefix), load_u64_be(prefix + 8), i,
                                    sizeof(KeyTable::Item) + i->key_size + i->value_size});
  }
  // Unsigned big-endian words order as the bytes do. Equal prefixes (keys
  // that share 16 bytes, or a key and its extension by zero bytes) fall
  // back to the keys themselves.
  std::sort(entries.begin(), entries.end(), [](const KeyOrderEntry& a, const KeyOrderEntry& b) {
    if (a.prefix_high != b.prefix_high) return a.prefix_high < b.prefix_high;
    if (a.prefix_low != b.prefix_low) return a.prefix_low < b.prefix_low;
    return a.item->key() < b.item->key();
  });
  return entries;
}

std::uint64_t fnv1a(std::uint64_t h, std::string_view bytes) {
  for (char c : bytes) {
    h ^= static_cast<std::uint8_t>(c);
    h *= kFnv1aPrime;
  }
  return h;
}

}  // namespace synod::kv
