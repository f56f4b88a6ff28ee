// encode_view: the frame in the encoder's per-thread builder, without the
// copy into a vector that encode() makes. Same bytes, and a builder that is
// reused (no buffer of the frame's size allocated per frame once warm).
#include <doctest/doctest.h>

#include "alloc_counter.h"
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
    CHECK(viewed(m) == appended);
    Message back;
    CHECK(decode_one(viewed(m), back).status == Status::ok);
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
