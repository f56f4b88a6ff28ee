// wire::max_frame_bytes: the bound a datagram transport sizes its buffer by
// holds for what encode() produces and decode_one() accepts, and is tight.
#include <doctest/doctest.h>

#include <limits>

#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;

namespace {

// A snapshot_chunk whose payload makes the frame grow byte by byte.
Message chunk(std::size_t payload_bytes) {
  Message m;
  m.type = MessageType::snapshot_chunk;
  m.from = NodeId{1};
  m.to = NodeId{2};
  m.slot = Slot{7};
  m.slot_end = Slot{9};
  m.payload.assign(payload_bytes, 'x');
  return m;
}

}  // namespace

TEST_CASE("max_frame_bytes is the flatbuffer limit plus the header, capped by FlatBuffers") {
  CHECK(max_frame_bytes(WireLimits{}) == frame_header_bytes + (16u << 20));
  WireLimits huge;
  huge.frame_bytes_max = std::numeric_limits<std::uint32_t>::max();
  CHECK(max_frame_bytes(huge) == frame_header_bytes + frame_bytes_limit);
  static_assert(max_frame_bytes(WireLimits{}) > 0, "usable in constant expressions");
}

TEST_CASE("no frame encode() produces exceeds max_frame_bytes, and the largest reach it") {
  WireLimits limits;
  limits.frame_bytes_max = 4096;
  const std::size_t bound = max_frame_bytes(limits);
  std::size_t largest = 0;
  int refused = 0;
  for (std::size_t payload = 3800; payload <= 4200; ++payload) {
    std::vector<std::uint8_t> out;
    Status s = encode(chunk(payload), out, limits);
    if (s != Status::ok) {
      CHECK(s == Status::oversized);
      CHECK(out.empty());
      ++refused;
      continue;
    }
    CHECK(out.size() <= bound);
    largest = std::max(largest, out.size());
    Message back;
    DecodeResult r = decode_one(out, back, limits);
    CHECK(r.status == Status::ok);
    CHECK(r.consumed == out.size());
  }
  CHECK(refused > 0);
  // FlatBuffers pads to 8 bytes (and 4 for the payload length): the bound is
  // reached within that padding.
  CHECK(largest + 16 > bound);
}
