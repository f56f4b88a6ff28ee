#include "snapshot_order.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace synod::kv {
namespace {

std::uint64_t load_u64_be(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// Byte i (0 the most significant) of an entry's 16-byte prefix.
unsigned prefix_byte(const KeyOrderEntry& e, unsigned i) {
  std::uint64_t word = i < 8 ? e.prefix_high : e.prefix_low;
  return static_cast<unsigned>(word >> (8 * (7 - i % 8))) & 0xff;
}

// Orders the entries by their prefixes (unsigned big-endian words order as
// the bytes do): a least-significant-byte-first radix sort, one counting
// pass per byte position, skipping the positions where every key has the
// same byte ("key:" and the leading zeros of redis-benchmark's keys). A
// comparison sort took ~17 unpredictable branches per key.
void sort_by_prefix(std::vector<KeyOrderEntry>& entries) {
  constexpr unsigned kPositions = 16;
  std::vector<std::array<std::size_t, 256>> counts(kPositions);
  for (const KeyOrderEntry& e : entries)
    for (unsigned i = 0; i < kPositions; ++i) ++counts[i][prefix_byte(e, i)];
  std::vector<KeyOrderEntry> scratch(entries.size());
  for (unsigned i = kPositions; i-- > 0;) {
    std::array<std::size_t, 256>& count = counts[i];
    if (std::find(count.begin(), count.end(), entries.size()) != count.end()) continue;
    std::size_t at = 0;
    for (std::size_t& c : count) at += std::exchange(c, at);  // counts become offsets
    for (const KeyOrderEntry& e : entries) scratch[count[prefix_byte(e, i)]++] = e;
    entries.swap(scratch);
  }
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
  sort_by_prefix(entries);
  // Equal prefixes (keys that share 16 bytes, or a key and its extension by
  // zero bytes) are ordered by the keys themselves.
  for (std::size_t begin = 0; begin < entries.size();) {
    std::size_t end = begin + 1;
    while (end < entries.size() && entries[end].prefix_high == entries[begin].prefix_high &&
           entries[end].prefix_low == entries[begin].prefix_low)
      ++end;
    if (end - begin > 1)
      std::sort(entries.begin() + static_cast<std::ptrdiff_t>(begin),
                entries.begin() + static_cast<std::ptrdiff_t>(end),
                [](const KeyOrderEntry& a, const KeyOrderEntry& b) {
                  return a.item->key() < b.item->key();
                });
    begin = end;
  }
  return entries;
}

}  // namespace synod::kv
