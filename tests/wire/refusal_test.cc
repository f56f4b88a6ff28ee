// decode_frame on damaged, hostile, old and newer input: refused with the
// right status and reason, never a crash, never an unbounded allocation.
#include <doctest/doctest.h>

#include <random>

#include "alloc_counter.h"
#include "crc32c.h"
#include "framing.h"
#include "raw_frame.h"
#include "samples.h"
#include "synod/wire.h"
#include "synod_generated.h"

using namespace synod;
using namespace synod::wire;
using namespace synod::wire::test;

namespace {

std::vector<std::uint8_t> encoded(const Message& m) {
  std::vector<std::uint8_t> out;
  REQUIRE(encode(m, out) == Status::ok);
  return out;
}

DecodeResult decode(std::span<const std::uint8_t> bytes, const WireLimits& limits = {}) {
  Message m;
  return decode_frame(bytes, m, limits);
}

// A frame whose flatbuffer is rebuilt from `body` with a matching checksum:
// damage that got past the CRC (a buggy peer, or a hostile one).
std::vector<std::uint8_t> reframed(std::vector<std::uint8_t> body) { return frame_of(body); }

std::vector<std::uint8_t> body_of(const std::vector<std::uint8_t>& frame) {
  return {frame.begin() + frame_header_bytes, frame.end()};
}

// Anything that decodes must be a message the encoder accepts, and must
// survive a second round trip unchanged.
void check_reencodes(const Message& m) {
  std::vector<std::uint8_t> again;
  std::string why;
  REQUIRE_MESSAGE(encode(m, again, {}, &why) == Status::ok, why);
  Message back;
  REQUIRE(decode_one(again, back).status == Status::ok);
  CHECK(back == m);
}

}  // namespace

TEST_CASE("a length above frame_bytes_max is refused from the header alone, allocating nothing") {
  std::vector<std::uint8_t> header;
  detail::put_u32_le(header, 0xFFFFFFF0u);
  detail::put_u32_le(header, 0);
  DecodeResult r;
  {
    AllocationScope scope;
    Message m;
    r = decode_frame(header, m);
    // Only the error sentence may allocate.
    CHECK(scope.largest_bytes() < 256);
  }
  CHECK(r.status == Status::oversized);
  CHECK(r.reason == WireError::oversized);
  CHECK(r.consumed == 0);
  CHECK(r.error.find("frame_bytes_max") != std::string::npos);

  WireLimits small;
  small.frame_bytes_max = 100;
  std::vector<std::uint8_t> h2;
  detail::put_u32_le(h2, 101);
  detail::put_u32_le(h2, 0);
  CHECK(decode(h2, small).status == Status::oversized);
}

TEST_CASE("every proper prefix of a frame asks for more bytes") {
  for (const Message& m : sample_messages()) {
    const std::vector<std::uint8_t> f = encoded(m);
    for (std::size_t n = 0; n < f.size(); ++n) {
      DecodeResult r = decode(std::span(f).first(n));
      REQUIRE(r.need_more());
    }
  }
}

TEST_CASE("every single-bit flip of a frame is refused") {
  for (const Message& m : sample_messages()) {
    const std::vector<std::uint8_t> f = encoded(m);
    for (std::size_t bit = 0; bit < 8 * f.size(); ++bit) {
      std::vector<std::uint8_t> g = f;
      g[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      DecodeResult r = decode(g);
      // A flip in the length asks for more or shortens the frame; every other
      // flip breaks the checksum. CRC32C catches every single-bit error.
      REQUIRE(r.consumed == 0);
      if (r.status == Status::ok) REQUIRE(bit < 32);
    }
  }
}

TEST_CASE("truncated flatbuffers behind a valid checksum are refused or decode unchanged") {
  for (const Message& m : sample_messages()) {
    const std::vector<std::uint8_t> body = body_of(encoded(m));
    for (std::size_t n = 0; n < body.size(); ++n) {
      std::vector<std::uint8_t> cut(body.begin(), body.begin() + static_cast<long>(n));
      Message got;
      DecodeResult r = decode_frame(reframed(cut), got);
      REQUIRE(r.consumed == frame_header_bytes + n);
      if (r.status == Status::ok)
        REQUIRE(got == m);
      else
        REQUIRE(r.status == Status::malformed);
    }
  }
}

TEST_CASE("bit flips behind a recomputed checksum never crash, and what decodes re-encodes") {
  std::size_t refused = 0, accepted = 0;
  for (const Message& m : sample_messages()) {
    const std::vector<std::uint8_t> body = body_of(encoded(m));
    for (std::size_t bit = 0; bit < 8 * body.size(); ++bit) {
      std::vector<std::uint8_t> g = body;
      g[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      Message got;
      DecodeResult r = decode_frame(reframed(g), got);
      REQUIRE(r.consumed == frame_header_bytes + g.size());
      if (r.status == Status::ok) {
        ++accepted;
        check_reencodes(got);
      } else {
        ++refused;
        REQUIRE(!r.error.empty());
      }
    }
  }
  // Most flips land in values (a slot, a command byte) and still decode.
  CHECK(refused > 0);
  CHECK(accepted > 0);
}

TEST_CASE("random garbage is refused, with or without a valid checksum") {
  std::mt19937_64 rng(2024);
  for (int i = 0; i < 3000; ++i) {
    std::vector<std::uint8_t> g(rng() % 300);
    for (auto& b : g) b = static_cast<std::uint8_t>(rng());
    Message m;
    DecodeResult r = decode_frame(g, m);
    CHECK((r.need_more() || r.status != Status::ok));
    if (i % 2 == 0 && g.size() >= 8) g[4] = 'S', g[5] = 'Y', g[6] = 'N', g[7] = 'W';
    r = decode_frame(reframed(g), m);
    if (r.status == Status::ok) check_reencodes(m);
  }
}

TEST_CASE("a flatbuffer without the SYNW identifier is refused as bad_buffer") {
  std::vector<std::uint8_t> body = body_of(encoded(sample_messages()[0]));
  body[4] = 'X';
  DecodeResult r = decode(reframed(body));
  CHECK(r.status == Status::malformed);
  CHECK(r.reason == WireError::bad_buffer);
  CHECK(r.error.find("SYNW") != std::string::npos);
}

TEST_CASE("a frame without a version is refused") {
  RawOptions o;
  o.version = 0;
  DecodeResult r = decode(raw_frame(sample_messages()[0], o));
  CHECK(r.status == Status::malformed);
  CHECK(r.reason == WireError::bad_buffer);
  CHECK(r.error.find("version") != std::string::npos);
}

TEST_CASE("a frame from an unsupported version is refused by version, with a clear error") {
  RawOptions o;
  o.version = wire_version + 1;
  o.newer_fields = true;
  DecodeResult r = decode(raw_frame(sample_messages()[1], o));
  CHECK(r.status == Status::malformed);
  CHECK(r.reason == WireError::unsupported_version);
  CHECK(r.error == "wire version 2 is not supported (this build reads 1 to 1)");
  CHECK(r.consumed > 0);  // framing is intact: a stream may skip it
}

TEST_CASE("a newer version is refused by version even when its other fields are unreadable") {
  // A later incompatible layout: field 1 is now 8 bytes, and the entries slot
  // holds something that is no offset. Only field 0 is read.
  flatbuffers::FlatBufferBuilder fbb;
  const auto start = fbb.StartTable();
  fbb.AddElement<std::uint16_t>(flatbuffers::FieldIndexToOffset(0), 7, 0);
  fbb.AddElement<std::uint64_t>(flatbuffers::FieldIndexToOffset(1), ~0ull, 0);
  fbb.AddElement<std::uint32_t>(flatbuffers::FieldIndexToOffset(12), 0xFFFFFFF0u, 0);
  fbb.Finish(flatbuffers::Offset<flatbuffers::Table>(fbb.EndTable(start)), "SYNW");
  std::span<const std::uint8_t> body(fbb.GetBufferPointer(), fbb.GetSize());
  DecodeResult r = decode(frame_of(body));
  CHECK(r.reason == WireError::unsupported_version);
  CHECK(r.error.find("wire version 7") != std::string::npos);
}

TEST_CASE("a frame from a newer compatible schema decodes, its extra fields skipped") {
  RawOptions o;
  o.newer_fields = true;
  for (const Message& m : sample_messages()) {
    CAPTURE(to_string(m.type));
    const std::vector<std::uint8_t> f = raw_frame(m, o);
    CHECK(f.size() > raw_frame(m).size());  // the extra fields are really there
    Message got;
    DecodeResult r = decode_one(f, got);
    REQUIRE_MESSAGE(r.status == Status::ok, r.error);
    CHECK(got == m);
  }
}

TEST_CASE("an unknown message type or value kind is refused as unknown_type") {
  RawOptions o;
  o.type = 20;  // one past host_message
  DecodeResult r = decode(raw_frame(sample_messages()[0], o));
  CHECK(r.status == Status::malformed);
  CHECK(r.reason == WireError::unknown_type);
  CHECK(r.error == "unknown message type 20");
  o.type = 0;
  CHECK(decode(raw_frame(sample_messages()[0], o)).reason == WireError::unknown_type);

  RawOptions k;
  k.kind = 3;  // one past config
  r = decode(raw_frame(sample_messages()[2], k));
  CHECK(r.reason == WireError::unknown_type);
  CHECK(r.error.find("value kind 3") != std::string::npos);
  // A config whose bytes are not a membership is refused too.
  k.kind = 2;
  r = decode(raw_frame(sample_messages()[2], k));
  CHECK(r.status == Status::malformed);
  CHECK(r.error.find("configuration") != std::string::npos);
}

TEST_CASE("frames that break a wire invariant are refused as invalid, naming it") {
  const std::vector<Message> s = sample_messages();
  auto refusal = [](Message m) {
    DecodeResult r = decode(raw_frame(m));
    CHECK(r.status == Status::malformed);
    CHECK(r.reason == WireError::invalid);
    return r.error;
  };
  Message m = s[2];  // accept
  m.from = NodeId{};
  CHECK(refusal(m).find("node 0 is nobody") != std::string::npos);
  m = s[2];
  m.entries.clear();
  CHECK(refusal(m) == "an accept without entries");
  m = s[2];
  m.entries[1].slot = Slot{9};
  CHECK(refusal(m).find("skips") != std::string::npos);
  m = s[0];  // prepare
  m.ballot = Ballot{};
  CHECK(refusal(m) == "a prepare without a ballot");
  m = s[3];  // accepted
  m.slot_end = Slot{2};
  CHECK(refusal(m).find("empty range") != std::string::npos);
  m = s[4];  // heartbeat
  m.entries = s[2].entries;
  CHECK(refusal(m).find("carries 3 entries") != std::string::npos);
}

TEST_CASE("snapshot fields are refused on the types that do not carry them") {
  const std::vector<Message> s = sample_messages();
  auto refusal = [](Message m) {
    DecodeResult r = decode(raw_frame(m));
    CHECK(r.status == Status::malformed);
    CHECK(r.reason == WireError::invalid);
    CHECK(r.consumed > 0);  // one dropped message; the stream goes on
    return r.error;
  };
  for (const Message& good : s) {
    if (good.type == MessageType::snapshot_chunk) continue;
    CAPTURE(to_string(good.type));
    Message m = good;
    m.payload = std::string("\0image", 6);
    CHECK(refusal(m).find("carries 6 payload bytes") != std::string::npos);
    if (good.type == MessageType::catchup_request) continue;
    m = good;
    m.offset = 1;
    CHECK(refusal(m).find("with offset 1") != std::string::npos);
  }
  const Message chunk = s[s.size() - 5];  // the chunk before the last, then 3 read samples
  REQUIRE(chunk.type == MessageType::snapshot_chunk);
  Message m = chunk;
  m.slot_end = Slot{0};
  CHECK(refusal(m) == "a snapshot_chunk of a snapshot at slot 0");
  m = chunk;
  m.slot = Slot{0};
  CHECK(refusal(m) == "a snapshot_chunk answering slot 0");
  m = chunk;
  m.offset = UINT64_MAX - m.payload.size() + 1;
  CHECK(refusal(m).find("ends past 2^64") != std::string::npos);
  m = s[7];  // catchup_request
  m.offset = 5;
  CHECK(refusal(m) == "a catchup_request holding 5 bytes of no snapshot");
}

TEST_CASE("a noop carrying commands, or lengths that miss the bytes, is refused") {
  Message m = sample_messages()[2];
  RawOptions noop;
  noop.kind = 0;  // every entry claims noop, but two carry commands
  DecodeResult r = decode(raw_frame(m, noop));
  CHECK(r.reason == WireError::invalid);
  CHECK(r.error.find("noop") != std::string::npos);

  // Hand-made entry: lengths say 5 bytes, 4 follow.
  namespace fb = synod::wire::fb;
  flatbuffers::FlatBufferBuilder fbb;
  auto lengths = fbb.CreateVector(std::vector<std::uint32_t>{5});
  auto bytes = fbb.CreateVector(std::vector<std::uint8_t>{1, 2, 3, 4});
  const fb::Ballot ballot(1, 1);
  auto e = fb::CreateEntry(fbb, 1, &ballot, fb::ValueKind::commands, lengths, bytes);
  auto entries = fbb.CreateVector(std::vector{e});
  fbb.Finish(fb::CreateMessage(fbb, wire_version, fb::MessageType::accept, 0, 1, 2, &ballot, 0, 0,
                               0, false, false, false, entries),
             fb::MessageIdentifier());
  r = decode(frame_of(std::span(fbb.GetBufferPointer(), fbb.GetSize())));
  CHECK(r.reason == WireError::invalid);
  CHECK(r.error == "at slot 1 command lengths sum to 5 but 4 bytes follow");
}

TEST_CASE("entries sharing one command run cannot multiply memory") {
  // 2000 entry offsets, all to one table holding a 4 KiB command: 8 MB if
  // decoded naively from a 12 KB frame.
  namespace fb = synod::wire::fb;
  flatbuffers::FlatBufferBuilder fbb;
  auto lengths = fbb.CreateVector(std::vector<std::uint32_t>{4096});
  auto bytes = fbb.CreateVector(std::vector<std::uint8_t>(4096, 'z'));
  const fb::Ballot ballot(1, 1);
  auto e = fb::CreateEntry(fbb, 1, &ballot, fb::ValueKind::commands, lengths, bytes);
  auto entries = fbb.CreateVector(std::vector(2000, e));
  fbb.Finish(fb::CreateMessage(fbb, wire_version, fb::MessageType::accept, 0, 1, 2, &ballot, 0, 0,
                               0, false, false, false, entries),
             fb::MessageIdentifier());
  const std::vector<std::uint8_t> f = frame_of(std::span(fbb.GetBufferPointer(), fbb.GetSize()));
  DecodeResult r;
  std::size_t allocated = 0;
  {
    AllocationScope scope;
    Message m;
    r = decode_frame(f, m);
    allocated = scope.total_bytes();
  }
  CHECK(r.status == Status::malformed);
  CHECK(r.reason == WireError::invalid);
  CHECK(r.error.find("share") != std::string::npos);
  CHECK(allocated < 8 * f.size() + (64u << 10));
}

TEST_CASE("a payload sharing bytes with the entries cannot double memory") {
  // The payload and an entry's command run are one vector: 8 KiB decoded
  // from a 4 KiB frame. Refused by the byte budget, before the rules.
  namespace fb = synod::wire::fb;
  flatbuffers::FlatBufferBuilder fbb;
  auto lengths = fbb.CreateVector(std::vector<std::uint32_t>{4096});
  auto bytes = fbb.CreateVector(std::vector<std::uint8_t>(4096, 'z'));
  const fb::Ballot ballot(1, 1);
  auto e = fb::CreateEntry(fbb, 1, &ballot, fb::ValueKind::commands, lengths, bytes);
  auto entries = fbb.CreateVector(std::vector{e});
  fbb.Finish(fb::CreateMessage(fbb, wire_version, fb::MessageType::catchup_reply, 0, 1, 2, &ballot,
                               1, 0, 1, false, false, false, entries, 0, bytes),
             fb::MessageIdentifier());
  DecodeResult r = decode(frame_of(std::span(fbb.GetBufferPointer(), fbb.GetSize())));
  CHECK(r.status == Status::malformed);
  CHECK(r.reason == WireError::invalid);
  CHECK(r.error.find("share") != std::string::npos);
}

TEST_CASE("more entries than entries_max are refused as oversized before verification") {
  Message m = sample_messages()[2];
  WireLimits l;
  l.entries_max = 2;
  DecodeResult r = decode(encoded(m), l);
  CHECK(r.status == Status::oversized);
  CHECK(r.reason == WireError::oversized);
  CHECK(r.error == "3 entries exceed entries_max 2");
}

TEST_CASE("a frame too short to be a flatbuffer is refused") {
  for (std::size_t n : {0u, 3u, 7u}) {
    DecodeResult r = decode(frame_of(std::vector<std::uint8_t>(n, 0)));
    CHECK(r.status == Status::malformed);
    CHECK(r.reason == WireError::bad_buffer);
    CHECK(r.consumed == frame_header_bytes + n);
  }
}
