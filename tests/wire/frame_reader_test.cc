// FrameReader: a byte stream cut anywhere yields the same messages; the
// buffer stays bounded; lost framing fails the reader for good.
#include <doctest/doctest.h>

#include <random>

#include "alloc_counter.h"
#include "framing.h"
#include "raw_frame.h"
#include "samples.h"
#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;
using namespace synod::wire::test;

namespace {

std::vector<std::uint8_t> stream_of(const std::vector<Message>& ms) {
  std::vector<std::uint8_t> out;
  for (const Message& m : ms) REQUIRE(encode(m, out) == Status::ok);
  return out;
}

// Feeds `chunks` in order and collects every message, failing the test on
// any refusal.
std::vector<Message> read_all(FrameReader& reader,
                              const std::vector<std::span<const std::uint8_t>>& chunks) {
  std::vector<Message> got;
  for (std::span<const std::uint8_t> data : chunks) {
    while (!data.empty()) {
      data = data.subspan(reader.feed(data));
      for (;;) {
        Message m;
        DecodeResult r = reader.next(m);
        REQUIRE_MESSAGE(r.status == Status::ok, r.error);
        if (r.need_more()) break;
        got.push_back(std::move(m));
      }
    }
  }
  return got;
}

}  // namespace

TEST_CASE("a stream split in two at every byte boundary yields the same messages") {
  const std::vector<Message> all = sample_messages();
  const std::vector<std::uint8_t> s = stream_of(all);
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    FrameReader reader;
    std::span<const std::uint8_t> whole(s);
    REQUIRE(read_all(reader, {whole.first(cut), whole.subspan(cut)}) == all);
    REQUIRE(reader.buffered_bytes() == 0);
  }
}

TEST_CASE("a stream fed one byte at a time, or in random chunks, yields every message") {
  const std::vector<Message> all = sample_messages();
  const std::vector<std::uint8_t> s = stream_of(all);
  std::span<const std::uint8_t> whole(s);
  {
    std::vector<std::span<const std::uint8_t>> bytes;
    for (std::size_t i = 0; i < s.size(); ++i) bytes.push_back(whole.subspan(i, 1));
    FrameReader reader;
    CHECK(read_all(reader, bytes) == all);
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::span<const std::uint8_t>> chunks;
    for (std::size_t at = 0; at < s.size();) {
      std::size_t n = std::min<std::size_t>(s.size() - at, rng() % 97 + 1);
      chunks.push_back(whole.subspan(at, n));
      at += n;
    }
    FrameReader reader;
    REQUIRE(read_all(reader, chunks) == all);
  }
}

TEST_CASE("the buffer never holds more than one maximal frame, and a full one makes progress") {
  const std::vector<Message> all = sample_messages();
  std::size_t biggest = 0;
  for (const Message& m : all) biggest = std::max(biggest, stream_of({m}).size());
  WireLimits l;
  l.frame_bytes_max = static_cast<std::uint32_t>(biggest - frame_header_bytes);
  const std::vector<std::uint8_t> s = stream_of(all);
  FrameReader reader(l);
  std::span<const std::uint8_t> data(s);
  std::vector<Message> got;
  while (!data.empty()) {
    const std::size_t took = reader.feed(data);
    data = data.subspan(took);
    REQUIRE(reader.buffered_bytes() <= biggest);
    if (took == 0) {
      // Full: the next message must come out.
      Message m;
      DecodeResult r = reader.next(m);
      REQUIRE(r.status == Status::ok);
      REQUIRE(r.consumed > 0);
      got.push_back(m);
    }
  }
  for (;;) {
    Message m;
    DecodeResult r = reader.next(m);
    REQUIRE(r.status == Status::ok);
    if (r.need_more()) break;
    got.push_back(m);
  }
  CHECK(got == all);
}

TEST_CASE("an oversized length fails the reader for good without buffering the frame") {
  WireLimits l;
  l.frame_bytes_max = 1024;
  FrameReader reader(l);
  std::vector<std::uint8_t> header;
  detail::put_u32_le(header, 1025);
  detail::put_u32_le(header, 0);
  CHECK(reader.feed(header) == header.size());
  Message m;
  DecodeResult r = reader.next(m);
  CHECK(r.status == Status::oversized);
  CHECK(r.consumed == 0);
  CHECK(reader.failed());
  CHECK(reader.buffered_bytes() == frame_header_bytes);
  CHECK(reader.feed(stream_of(sample_messages())) == 0);  // takes nothing more
  CHECK(reader.next(m).status == Status::oversized);      // the same error, again
}

TEST_CASE("a bad checksum fails the reader for good") {
  std::vector<std::uint8_t> s = stream_of(sample_messages());
  s[frame_header_bytes + 10] ^= 0x40;  // inside the first frame
  FrameReader reader;
  reader.feed(s);
  Message m;
  DecodeResult r = reader.next(m);
  CHECK(r.status == Status::malformed);
  CHECK(r.reason == WireError::bad_checksum);
  CHECK(reader.failed());
  CHECK(reader.next(m).reason == WireError::bad_checksum);
}

TEST_CASE("a frame with a sound checksum but bad content is skipped and the stream goes on") {
  const std::vector<Message> all = sample_messages();
  RawOptions newer;
  newer.version = wire_version + 1;
  std::vector<std::uint8_t> s = raw_frame(all[0], newer);
  std::vector<std::uint8_t> rest = stream_of({all[1], all[2]});
  s.insert(s.end(), rest.begin(), rest.end());

  FrameReader reader;
  CHECK(reader.feed(s) == s.size());
  Message m;
  DecodeResult r = reader.next(m);
  CHECK(r.reason == WireError::unsupported_version);
  CHECK(r.consumed > 0);
  CHECK(!reader.failed());
  REQUIRE(reader.next(m).status == Status::ok);
  CHECK(m == all[1]);
  REQUIRE(reader.next(m).status == Status::ok);
  CHECK(m == all[2]);
  CHECK(reader.next(m).need_more());
}

TEST_CASE("next_frame hands out whole frames that decode_one accepts") {
  const std::vector<Message> all = sample_messages();
  const std::vector<std::uint8_t> s = stream_of(all);
  FrameReader reader;
  CHECK(reader.feed(s) == s.size());
  for (const Message& want : all) {
    std::span<const std::uint8_t> frame;
    DecodeResult r = reader.next_frame(frame);
    REQUIRE(r.status == Status::ok);
    REQUIRE(frame.size() == r.consumed);
    Message got;
    REQUIRE(decode_one(frame, got).status == Status::ok);
    CHECK(got == want);
  }
  std::span<const std::uint8_t> none;
  CHECK(reader.next_frame(none).need_more());
  CHECK(none.empty());
}

TEST_CASE("a reader reuses its buffer across many frames") {
  // 10 000 frames through one reader: the buffer compacts instead of growing.
  const std::vector<std::uint8_t> one = stream_of({sample_messages()[2]});
  FrameReader reader;
  std::size_t n = 0;
  for (int i = 0; i < 10000; ++i) {
    std::span<const std::uint8_t> data(one);
    // Misaligned chunks: half a frame each time.
    while (!data.empty()) {
      data = data.subspan(reader.feed(data.first(std::min<std::size_t>(data.size(), 37))));
      Message m;
      while (reader.next(m).consumed > 0) ++n;
    }
    REQUIRE(reader.buffered_bytes() < one.size());
  }
  CHECK(n == 10000);
}

TEST_CASE("a reader frees the buffer of a large frame once the frame is read") {
  Message big;
  big.type = MessageType::accept;
  big.from = NodeId{1};
  big.to = NodeId{2};
  big.ballot = Ballot{1, NodeId{1}};
  big.entries = {Entry{Slot{1}, big.ballot, batch({std::string(1u << 20, 'b')})}};
  const std::vector<std::uint8_t> large = stream_of({big});
  const std::vector<std::uint8_t> small = stream_of({sample_messages()[0]});
  FrameReader reader;
  CHECK(reader.feed(large) == large.size());
  Message m;
  REQUIRE(reader.next(m).consumed == large.size());
  std::size_t allocated = 0;
  {
    AllocationScope scope;
    CHECK(reader.feed(small) == small.size());
    allocated = scope.largest_bytes();
  }
  // A fresh, small buffer: the megabyte one is gone.
  CHECK(allocated > 0);
  CHECK(allocated < (64u << 10));
  REQUIRE(reader.next(m).status == Status::ok);
  CHECK(m == sample_messages()[0]);
}
