// Redis Cluster's key space: 16384 hash slots, a key's slot the CRC16 of
// the key or of its {hash tag}, and the slots split over shards in
// contiguous ranges. Pure: synod-kv's CLUSTER KEYSLOT answers from it now,
// and sharding over groups (docs/kv.md, "Not wired yet") will route by it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace synod::kv {

inline constexpr std::size_t kHashSlots = 16384;

// CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection), the
// checksum Redis Cluster uses: crc16("123456789") == 0x31c3.
std::uint16_t crc16(std::string_view bytes);

// The part of a key that is hashed, as Redis Cluster defines it: if the key
// holds a '{' followed later by a '}' with at least one byte between the
// first '{' and the first '}' after it, only those bytes; otherwise the
// whole key ("{}foo" hashes whole, "foo{}{bar}" too).
std::string_view hash_tag(std::string_view key);

// crc16(hash_tag(key)) mod 16384. key_slot("foo") == 12182.
std::uint16_t key_slot(std::string_view key);

struct SlotRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;  // inclusive
  friend bool operator==(const SlotRange&, const SlotRange&) = default;
};

// The 16384 slots over `shards` shards (1 <= shards <= 16384) in contiguous
// ranges, shard i taking the i-th: redis-cli --cluster create's split
// (3 shards: 0-5460, 5461-10922, 10923-16383).
class SlotMap {
 public:
  explicit SlotMap(std::size_t shards);
  std::size_t shards() const { return ranges_.size(); }
  const std::vector<SlotRange>& ranges() const { return ranges_; }
  std::size_t shard_of_slot(std::uint16_t slot) const { return owner_[slot % kHashSlots]; }
  std::size_t shard_of_key(std::string_view key) const { return shard_of_slot(key_slot(key)); }

 private:
  std::vector<SlotRange> ranges_;
  std::array<std::uint16_t, kHashSlots> owner_{};
};

}  // namespace synod::kv
