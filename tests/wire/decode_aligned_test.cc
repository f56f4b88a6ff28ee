// decode_frame on bodies that are not 8-byte aligned (about half the frames
// of a TCP stream): FlatBuffers needs them aligned, so the decoder copies
// them into a buffer its thread reuses. Same messages as aligned input, a
// copy that never outlives the call, and no block of the frame's size
// allocated per frame once warm.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>

#include "alloc_counter.h"
#include "samples.h"
#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;
using synod::wire::test::AllocationScope;
using synod::wire::test::batch;
using synod::wire::test::sample_messages;

namespace {

Message accept_of(std::size_t commands, std::size_t bytes_each, char fill) {
  Message m;
  m.type = MessageType::accept;
  m.from = NodeId{1};
  m.to = NodeId{2};
  m.ballot = Ballot{1, NodeId{1}};
  m.entries.push_back(Entry{
      Slot{1}, m.ballot, batch(std::vector<std::string>(commands, std::string(bytes_each, fill)))});
  return m;
}

// A frame placed `offset` bytes past an 8-byte boundary, so its body (8
// bytes further) is misaligned by the same amount.
class Placed {
 public:
  Placed(const std::vector<std::uint8_t>& frame, std::size_t offset)
      : words_(std::make_unique<std::uint64_t[]>((frame.size() + offset) / 8 + 1)),
        bytes_(reinterpret_cast<std::uint8_t*>(words_.get()) + offset, frame.size()) {
    std::memcpy(bytes_.data(), frame.data(), frame.size());
  }
  std::span<const std::uint8_t> bytes() const { return bytes_; }

 private:
  std::unique_ptr<std::uint64_t[]> words_;
  std::span<std::uint8_t> bytes_;
};

std::vector<std::uint8_t> framed(const Message& m) {
  std::vector<std::uint8_t> out;
  std::string why;
  REQUIRE_MESSAGE(encode(m, out, {}, &why) == Status::ok, why);
  return out;
}

Message decoded(std::span<const std::uint8_t> bytes, const WireLimits& limits = {}) {
  Message m;
  DecodeResult r = decode_one(bytes, m, limits);
  REQUIRE_MESSAGE(r.status == Status::ok, r.error);
  return m;
}

}  // namespace

TEST_CASE("every sample message decodes the same at every misalignment") {
  for (const Message& m : sample_messages()) {
    CAPTURE(to_string(m.type));
    const std::vector<std::uint8_t> frame = framed(m);
    for (std::size_t offset = 0; offset < 8; ++offset) {
      CAPTURE(offset);
      CHECK(decoded(Placed(frame, offset).bytes()) == m);
    }
  }
}

TEST_CASE("unaligned frames decoded one after another keep their own contents") {
  const Message a = accept_of(300, 256, 'a');
  const Message b = accept_of(5, 40, 'b');
  const Placed pa(framed(a), 4), pb(framed(b), 4);
  const Message da = decoded(pa.bytes());
  const Message db = decoded(pb.bytes());  // reuses the buffer a was copied into
  CHECK(da == a);
  CHECK(db == b);
  CHECK(decoded(pa.bytes()) == a);
}

TEST_CASE("after an unaligned frame far larger than usual, frames stay correct") {
  WireLimits limits;
  limits.frame_bytes_max = 32u << 20;
  limits.command_bytes_max = 1u << 20;
  const Message big = accept_of(10, 1u << 20, 'B');  // 10 MiB: past what is kept
  const Message small = accept_of(3, 10, 's');
  std::vector<std::uint8_t> big_frame;
  std::string why;
  REQUIRE_MESSAGE(encode(big, big_frame, limits, &why) == Status::ok, why);
  const Placed pbig(big_frame, 4), psmall(framed(small), 4);
  CHECK(decoded(psmall.bytes(), limits) == small);
  CHECK(decoded(pbig.bytes(), limits) == big);
  CHECK(decoded(psmall.bytes(), limits) == small);  // the large buffer given back
  CHECK(decoded(pbig.bytes(), limits) == big);
}

TEST_CASE("a warm decoder allocates no copy of an unaligned frame per frame") {
  const Message m = accept_of(400, 256, 'w');  // ~100 KiB, a pipelined batch
  const std::vector<std::uint8_t> frame = framed(m);
  const Placed placed(frame, 4);
  REQUIRE(decoded(placed.bytes()) == m);  // warms this thread's buffer
  std::size_t total = 0;
  std::size_t count = 0;
  Message again;
  {
    AllocationScope scope;
    REQUIRE(decode_one(placed.bytes(), again).status == Status::ok);
    total = scope.total_bytes();
    count = scope.count();
  }
  CHECK(again == m);
  // What is allocated now is the message itself: the entries and the
  // batch's one block (its 100 KiB of commands and 400 end offsets), not a
  // second 100 KiB for a copy of the frame, nor a string per command.
  CHECK(total < frame.size() * 3 / 2);
  CHECK(count <= 3);
}
