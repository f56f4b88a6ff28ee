#include "hash_slot.h"

#include <doctest/doctest.h>

#include <string>

using namespace synod::kv;

TEST_CASE("CRC16/XMODEM and key slots agree with Redis Cluster") {
  CHECK(crc16("123456789") == 0x31c3);  // the CRC's check value
  CHECK(crc16("") == 0);
  // redis-server --cluster-enabled yes: CLUSTER KEYSLOT answers these.
  CHECK(key_slot("foo") == 12182);
  CHECK(key_slot("bar") == 5061);
  CHECK(key_slot("hello") == 866);
  CHECK(key_slot("") == 0);
}

TEST_CASE("hash tags: the first {...} with something inside, else the whole key") {
  CHECK(hash_tag("{user1000}.following") == "user1000");
  CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
  CHECK(key_slot("{user1000}.following") == key_slot("user1000"));
  CHECK(hash_tag("foo{}{bar}") == "foo{}{bar}");  // empty first tag: the whole key
  CHECK(hash_tag("{}foo") == "{}foo");
  CHECK(hash_tag("foo{{bar}}zap") == "{bar");  // up to the first '}'
  CHECK(hash_tag("foo{bar}{zap}") == "bar");   // only the first tag counts
  CHECK(hash_tag("no tag}{") == "no tag}{");   // '}' before '{' is no tag
  CHECK(hash_tag("{open") == "{open");
  CHECK(key_slot("{a}x") == key_slot("{a}y"));
  CHECK(key_slot("a{}x") != key_slot("a{}y"));
}

TEST_CASE("slots split over shards in contiguous ranges, as redis-cli --cluster create") {
  SlotMap one(1);
  REQUIRE(one.ranges().size() == 1);
  CHECK(one.ranges()[0] == SlotRange{0, 16383});
  SlotMap three(3);
  CHECK(three.ranges() == std::vector<SlotRange>{{0, 5460}, {5461, 10922}, {10923, 16383}});
  SlotMap four(4);
  CHECK(four.ranges() ==
        std::vector<SlotRange>{{0, 4095}, {4096, 8191}, {8192, 12287}, {12288, 16383}});
  CHECK(three.shard_of_slot(5460) == 0);
  CHECK(three.shard_of_slot(5461) == 1);
  CHECK(three.shard_of_slot(16383) == 2);
  CHECK(three.shard_of_key("foo") == 2);  // slot 12182
  for (std::size_t n : {1u, 2u, 3u, 5u, 7u, 16u, 100u, 1000u, 16384u}) {
    SlotMap m(n);
    REQUIRE(m.shards() == n);
    // Contiguous, in order, covering every slot once, none empty, sizes
    // within one of each other.
    std::size_t next = 0, smallest = kHashSlots, largest = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const SlotRange& r = m.ranges()[i];
      CHECK(r.first == next);
      CHECK(r.last >= r.first);
      std::size_t size = std::size_t{r.last} - r.first + 1;
      smallest = std::min(smallest, size);
      largest = std::max(largest, size);
      CHECK(m.shard_of_slot(r.first) == i);
      CHECK(m.shard_of_slot(r.last) == i);
      next = std::size_t{r.last} + 1;
    }
    CHECK(next == kHashSlots);
    CHECK(largest - smallest <= 1);
  }
}
