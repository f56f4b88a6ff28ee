#include "hash_slot.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace synod::kv {

std::uint16_t crc16(std::string_view bytes) {
  std::uint16_t crc = 0;
  for (char c : bytes) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<std::uint8_t>(c) << 8));
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

std::string_view hash_tag(std::string_view key) {
  std::size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  std::size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

std::uint16_t key_slot(std::string_view key) {
  return static_cast<std::uint16_t>(crc16(hash_tag(key)) % kHashSlots);
}

// redis-cli's clusterManagerCommandCreate: a fractional share per shard,
// each range ending at the rounded running total, the last at 16383.
SlotMap::SlotMap(std::size_t shards) {
  if (shards == 0 || shards > kHashSlots) {
    std::fprintf(stderr, "synod-kv: SlotMap of %zu shards (1..16384)\n", shards);
    std::abort();
  }
  const double per_shard = static_cast<double>(kHashSlots) / static_cast<double>(shards);
  double cursor = 0;
  long first = 0;
  for (std::size_t i = 0; i < shards; ++i) {
    long last = std::lround(cursor + per_shard - 1);
    if (last > static_cast<long>(kHashSlots) - 1 || i == shards - 1)
      last = static_cast<long>(kHashSlots) - 1;
    if (last < first) last = first;
    ranges_.push_back({static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)});
    for (long s = first; s <= last; ++s)
      owner_[static_cast<std::size_t>(s)] = static_cast<std::uint16_t>(i);
    first = last + 1;
    cursor += per_shard;
  }
}

}  // namespace synod::kv
