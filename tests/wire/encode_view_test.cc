// encode_view: the frame in the encoder's per-thread builder, without the
// copy into a vector that encode() makes. Same bytes, and a builder that is
// reused (no buffer of the frame's size allocated per frame once warm).
#include <doctest/doctest.h>

#include <cstring>

#include "alloc_counter.h"
#include "crc32c.h"
#include "samples.h"
#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;
using synod::wire::test::AllocationScope;
using synod::wire::test::batch;
using synod::wire::test::sample_messages;

namespace {

std::vector<std::uint8_t> viewed(const Message& m, const WireLimits& limits = {}) {
  std::span<const std::uint8_t> frame;
  std::string why;
  REQUIRE_MESSAGE(encode_view(m, &frame, limits, &why) == Status::ok, why);
  return {frame.begin(), frame.end()};
}

// A fresh build of m: another message in between, so that nothing of m's
// previous frame can be reused.
std::vector<std::uint8_t> fresh(const Message& m) {
  Message other;
  other.type = MessageType::heartbeat;
  other.from = NodeId{9};
  other.to = NodeId{8};
  other.ballot = Ballot{7, NodeId{9}};
  viewed(other);
  return viewed(m);
}

std::uint32_t detail_crc(const std::vector<std::uint8_t>& bytes) {
  return synod::wire::detail::crc32c(0, bytes);
}

Message accept_of(std::size_t commands, std::size_t bytes_each) {
  Message m;
  m.type = MessageType::accept;
  m.from = NodeId{1};
  m.to = NodeId{2};
  m.ballot = Ballot{1, NodeId{1}};
  m.entries.push_back(Entry{
      Slot{1}, m.ballot, batch(std::vector<std::string>(commands, std::string(bytes_each, 'v')))});
  return m;
}

}  // namespace

TEST_CASE("encode_view gives the bytes encode appends, for every message type") {
  for (const Message& m : sample_messages()) {
    CAPTURE(to_string(m.type));
    std::vector<std::uint8_t> appended;
    REQUIRE(encode(m, appended) == Status::ok);
    // Built again (the frame encode() left in the builder is not reused).
    CHECK(fresh(m) == appended);
    Message back;
    CHECK(decode_one(fresh(m), back).status == Status::ok);
    CHECK(back == m);
  }
}

TEST_CASE("encode_view refuses what encode refuses, with an empty view") {
  WireLimits small;
  small.frame_bytes_max = 1024;
  std::span<const std::uint8_t> frame;
  std::string why;
  CHECK(encode_view(accept_of(10, 200), &frame, small, &why) == Status::oversized);
  CHECK(frame.empty());
  CHECK_FALSE(why.empty());
}

TEST_CASE("a warm encoder allocates no buffer of the frame's size per frame") {
  const Message m = accept_of(400, 256);  // ~100 KiB, a pipelined batch
  const std::vector<std::uint8_t> want = viewed(m);
  // Another message in between, so that m is built again below rather than
  // its frame handed out again.
  viewed(accept_of(1, 8));
  std::span<const std::uint8_t> frame;
  std::size_t largest = 0;
  {
    AllocationScope scope;
    REQUIRE(encode_view(m, &frame) == Status::ok);
    largest = scope.largest_bytes();
  }
  CHECK(std::vector<std::uint8_t>(frame.begin(), frame.end()) == want);
  // What is left is the builder's small per-message scratch (entry offsets).
  CHECK(largest < 1024);
}

TEST_CASE("after a frame far larger than usual, frames stay correct (the builder is given back)") {
  const Message big = accept_of(20, 512 * 1024);  // 10 MiB
  const Message small = accept_of(3, 10);
  const std::vector<std::uint8_t> small_alone = viewed(small);
  Message back;
  REQUIRE(decode_one(viewed(big), back).status == Status::ok);
  CHECK(back == big);
  CHECK(viewed(small) == small_alone);
  CHECK(viewed(small) == small_alone);
}

namespace {}  // namespace

TEST_CASE("crc32c_patch8 gives the checksum computed again after 8 bytes change") {
  std::uint64_t seed = 7;
  auto next = [&seed] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint8_t>(seed >> 56);
  };
  for (std::size_t size : {8, 9, 16, 100, 4096, 100000}) {
    std::vector<std::uint8_t> buffer(size);
    for (auto& b : buffer) b = next();
    for (std::size_t offset : {std::size_t{0}, (size - 8) / 3, size - 8}) {
      CAPTURE(size);
      CAPTURE(offset);
      const std::uint32_t crc = detail_crc(buffer);
      std::uint8_t before[8], after[8];
      std::memcpy(before, buffer.data() + offset, 8);
      for (auto& b : after) b = next();
      std::memcpy(buffer.data() + offset, after, 8);
      CHECK(synod::wire::detail::crc32c_patch8(crc, size, offset, before, after) ==
            detail_crc(buffer));
    }
  }
}

TEST_CASE("an accept encoded again for another follower is the frame a fresh build gives") {
  // What a leader does: the same entries to each follower in turn. The
  // second frame is the first with `to` and the checksum rewritten.
  Message m = accept_of(50, 100);
  m.commit = Slot{3};
  for (std::uint64_t to : {2ull, 3ull, 2ull, 1ull << 40, 3ull}) {
    CAPTURE(to);
    m.to = NodeId{to};
    const std::vector<std::uint8_t> reused = viewed(m);
    CHECK(reused == fresh(m));
    Message back;
    REQUIRE(decode_one(reused, back).status == Status::ok);
    CHECK(back == m);
    viewed(m);  // leaves m's frame in the encoder for the next round
  }
  // Readdressed, not built: no allocation at all (a build allocates its
  // entry offsets).
  m.to = NodeId{2};
  viewed(m);
  m.to = NodeId{3};
  std::span<const std::uint8_t> frame;
  {
    AllocationScope scope;
    REQUIRE(encode_view(m, &frame) == Status::ok);
    CHECK(scope.total_bytes() == 0);
  }
  CHECK(std::vector<std::uint8_t>(frame.begin(), frame.end()) == fresh(m));
  // Anything else different is built anew, not readdressed.
  Message other_commit = m;
  other_commit.to = NodeId{2};
  other_commit.commit = Slot{4};
  viewed(m);
  CHECK(viewed(other_commit) == fresh(other_commit));
  Message other_entries = m;
  other_entries.to = NodeId{2};
  other_entries.entries[0].value = batch(std::vector<std::string>(50, std::string(100, 'w')));
  viewed(m);
  const std::vector<std::uint8_t> rebuilt = viewed(other_entries);
  CHECK(rebuilt == fresh(other_entries));
  Message back;
  REQUIRE(decode_one(rebuilt, back).status == Status::ok);
  CHECK(back == other_entries);
}
