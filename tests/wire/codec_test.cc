// encode / decode_frame / decode_one on well-behaved input: round trips,
// frame layout, limits, and the encoder's refusals.
#include <doctest/doctest.h>

#include "crc32c.h"
#include "framing.h"
#include "samples.h"
#include "synod/membership.h"
#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;
using synod::wire::test::batch;
using synod::wire::test::sample_messages;

namespace {

std::vector<std::uint8_t> encoded(const Message& m, const WireLimits& limits = {}) {
  std::vector<std::uint8_t> out;
  std::string why;
  REQUIRE_MESSAGE(encode(m, out, limits, &why) == Status::ok, why);
  return out;
}

Message decoded(std::span<const std::uint8_t> frame, const WireLimits& limits = {}) {
  Message m;
  DecodeResult r = decode_one(frame, m, limits);
  REQUIRE_MESSAGE(r.status == Status::ok, r.error);
  return m;
}

Message accept_with(std::vector<Value> values) {
  Message m;
  m.type = MessageType::accept;
  m.from = NodeId{1};
  m.to = NodeId{2};
  m.ballot = Ballot{1, NodeId{1}};
  std::uint64_t slot = 1;
  for (Value& v : values) m.entries.push_back(Entry{Slot{slot++}, m.ballot, std::move(v)});
  return m;
}

}  // namespace

TEST_CASE("every message type survives an encode and decode unchanged") {
  for (const Message& m : sample_messages()) {
    CAPTURE(to_string(m.type));
    CHECK(decoded(encoded(m)) == m);
  }
}

TEST_CASE("a frame is its length, the CRC32C of the flatbuffer, then the flatbuffer") {
  for (const Message& m : sample_messages()) {
    std::vector<std::uint8_t> f = encoded(m);
    REQUIRE(f.size() > frame_header_bytes);
    CHECK(detail::get_u32_le(f.data()) == f.size() - frame_header_bytes);
    std::span<const std::uint8_t> body(f.data() + frame_header_bytes,
                                       f.size() - frame_header_bytes);
    CHECK(detail::get_u32_le(f.data() + 4) == detail::crc32c(0, body));
    CHECK(std::string(body.begin() + 4, body.begin() + 8) == "SYNW");  // file identifier
  }
}

TEST_CASE("frames appended to one buffer decode one by one") {
  std::vector<std::uint8_t> stream;
  const std::vector<Message> all = sample_messages();
  for (const Message& m : all) REQUIRE(encode(m, stream) == Status::ok);
  std::span<const std::uint8_t> rest(stream);
  for (const Message& want : all) {
    Message got;
    DecodeResult r = decode_frame(rest, got);
    REQUIRE(r.status == Status::ok);
    REQUIRE(r.consumed > 0);
    CHECK(got == want);
    rest = rest.subspan(r.consumed);
  }
  CHECK(rest.empty());
}

TEST_CASE("values keep noops, empty batches, empty commands and binary bytes apart") {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  Message m = accept_with({Value::noop(), batch({}), batch({""}), batch({"", "", ""}),
                           batch({all_bytes, "", std::string(1, '\0')})});
  Message got = decoded(encoded(m));
  REQUIRE(got.entries.size() == 5);
  CHECK(got.entries[0].value.is_noop());
  CHECK(got.entries[1].value.kind() == ValueKind::commands);
  CHECK(got.entries[1].value.commands().empty());
  CHECK(got.entries[2].value.commands().to_strings() == std::vector<std::string>{""});
  CHECK(got.entries[3].value.commands().size() == 3);
  CHECK(got.entries[4].value.commands()[0] == all_bytes);
  CHECK(got == m);
}

TEST_CASE("a configuration value round-trips and keeps its kind") {
  Membership mem{{NodeId{1}, NodeId{2}, NodeId{4}}, {NodeId{7}}};
  Message m = accept_with({config_value(mem), batch({"x"})});
  Message got = decoded(encoded(m));
  REQUIRE(got.entries.size() == 2);
  CHECK(got.entries[0].value.is_config());
  REQUIRE(membership_of(got.entries[0].value).has_value());
  CHECK(*membership_of(got.entries[0].value) == mem);
  CHECK(got == m);
  // A config value whose bytes are not a membership is refused on encode.
  Message bad = accept_with({Value::of_kind(ValueKind::config, {"not a membership"})});
  std::vector<std::uint8_t> out;
  CHECK(encode(bad, out) != Status::ok);
}

TEST_CASE("a command of exactly command_bytes_max round-trips, one byte more is oversized") {
  WireLimits limits;
  limits.command_bytes_max = 1u << 20;
  Message m = accept_with({batch({std::string(limits.command_bytes_max, 'c')})});
  CHECK(decoded(encoded(m, limits), limits) == m);

  Message big = accept_with({batch({std::string(limits.command_bytes_max + 1, 'c')})});
  std::vector<std::uint8_t> out;
  CHECK(encode(big, out, limits) == Status::oversized);
  CHECK(out.empty());
}

TEST_CASE("encode refuses a message that breaks a wire invariant and leaves the buffer alone") {
  const Message good = sample_messages()[2];  // an accept
  auto bad = [&](auto change) {
    Message m = good;
    change(m);
    return m;
  };
  const std::vector<std::pair<const char*, Message>> cases = {
      {"unknown type", bad([](Message& m) { m.type = static_cast<MessageType>(200); })},
      {"type zero", bad([](Message& m) { m.type = static_cast<MessageType>(0); })},
      {"from nobody", bad([](Message& m) { m.from = NodeId{}; })},
      {"to nobody", bad([](Message& m) { m.to = NodeId{}; })},
      {"accept without ballot", bad([](Message& m) { m.ballot = Ballot{}; })},
      {"ballot without node", bad([](Message& m) {
         m.ballot = Ballot{3, NodeId{}};
       })},
      {"accept without entries", bad([](Message& m) { m.entries.clear(); })},
      {"entry at slot 0", bad([](Message& m) { m.entries[0].slot = Slot{0}; })},
      {"accept with a gap", bad([](Message& m) { m.entries[2].slot = Slot{9}; })},
      {"entries out of order", bad([](Message& m) { std::swap(m.entries[0], m.entries[1]); })},
      {"heartbeat with entries", bad([](Message& m) { m.type = MessageType::heartbeat; })},
  };
  for (const auto& c : cases) {
    // Not a structured binding: CAPTURE takes it in a lambda, which clang
    // 14 refuses.
    const auto& name = c.first;
    const auto& m = c.second;
    CAPTURE(name);
    std::vector<std::uint8_t> out = {1, 2, 3};
    std::string why;
    CHECK(encode(m, out, {}, &why) == Status::malformed);
    CHECK(!why.empty());
    CHECK(out == std::vector<std::uint8_t>{1, 2, 3});
  }
}

TEST_CASE("ranges in promise and accepted must be well ordered") {
  Message promise = sample_messages()[1];
  promise.slot_end = Slot{4};  // below slot 5
  std::vector<std::uint8_t> out;
  CHECK(encode(promise, out) == Status::malformed);
  promise = sample_messages()[1];
  promise.entries.clear();
  promise.slot_end = promise.slot;  // empty range, but more chunks claimed
  CHECK(encode(promise, out) == Status::malformed);
  promise.more = false;
  CHECK(encode(promise, out) == Status::ok);
  promise = sample_messages()[1];
  promise.slot_end = Slot{8};  // the entry at 8 falls outside [5, 8)
  CHECK(encode(promise, out) == Status::malformed);

  Message accepted = sample_messages()[3];
  accepted.slot_end = accepted.slot;
  CHECK(encode(accepted, out) == Status::malformed);
  accepted.slot = Slot{0};
  accepted.slot_end = Slot{1};
  CHECK(encode(accepted, out) == Status::malformed);
}

TEST_CASE("encode refuses what a peer's limits would refuse, with oversized") {
  Message m = accept_with({batch({"a", "b", "c"}), batch({"d"}), Value::noop()});
  std::vector<std::uint8_t> out;
  WireLimits l;
  l.entries_max = 2;
  CHECK(encode(m, out, l) == Status::oversized);
  l = {};
  l.commands_max = 3;
  CHECK(encode(m, out, l) == Status::oversized);
  l = {};
  l.frame_bytes_max = 64;
  CHECK(encode(m, out, l) == Status::oversized);
  CHECK(out.empty());
}

TEST_CASE("decode refuses frames over its own limits even when the sender's were wider") {
  Message m = accept_with({batch({"a", "b", "c"}), batch({"dddd"}), Value::noop()});
  const std::vector<std::uint8_t> f = encoded(m);
  auto refused = [&](WireLimits l) {
    Message out;
    DecodeResult r = decode_one(f, out, l);
    CAPTURE(r.error);
    CHECK(r.reason == WireError::oversized);
    return r.status;
  };
  WireLimits l;
  l.entries_max = 2;
  CHECK(refused(l) == Status::oversized);
  l = {};
  l.commands_max = 3;
  CHECK(refused(l) == Status::oversized);
  l = {};
  l.command_bytes_max = 3;
  CHECK(refused(l) == Status::oversized);
  l = {};
  l.frame_bytes_max = static_cast<std::uint32_t>(f.size() - frame_header_bytes - 1);
  CHECK(refused(l) == Status::oversized);
  l.frame_bytes_max += 1;
  CHECK(decoded(f, l) == m);
}

TEST_CASE("a refused frame leaves the output message untouched") {
  const Message before = sample_messages()[0];
  Message out = before;
  std::vector<std::uint8_t> f = encoded(sample_messages()[1]);
  f.back() ^= 1;
  DecodeResult r = decode_frame(f, out);
  CHECK(r.status == Status::malformed);
  CHECK(out == before);
}

TEST_CASE("decode_one wants exactly one whole frame") {
  std::vector<std::uint8_t> f = encoded(sample_messages()[0]);
  Message m;
  DecodeResult r = decode_one(std::span(f).first(f.size() - 1), m);
  CHECK(r.status == Status::malformed);
  CHECK(r.error.find("partial") != std::string::npos);
  f.push_back(0);
  r = decode_one(f, m);
  CHECK(r.status == Status::malformed);
  CHECK(r.error.find("after the frame") != std::string::npos);
}

TEST_CASE("an empty input or a bare header asks for more bytes") {
  Message m;
  CHECK(decode_frame({}, m).need_more());
  std::vector<std::uint8_t> f = encoded(sample_messages()[0]);
  CHECK(decode_frame(std::span(f).first(frame_header_bytes), m).need_more());
}

TEST_CASE("wire errors have names") {
  CHECK(to_string(WireError::unsupported_version) == "unsupported_version");
  CHECK(to_string(WireError::bad_checksum) == "bad_checksum");
}

namespace {

Message chunk_of(std::string payload) {
  Message m;
  m.type = MessageType::snapshot_chunk;
  m.from = NodeId{2};
  m.to = NodeId{3};
  m.slot = Slot{5};
  m.slot_end = Slot{4000};
  m.commit = Slot{4100};
  m.offset = 1u << 20;
  m.more = true;
  m.payload = std::move(payload);
  return m;
}

}  // namespace

TEST_CASE("a snapshot_chunk of Config's default 1 MiB fits the default limits") {
  std::string image(1u << 20, '\0');
  for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<char>(i * 131);
  const Message m = chunk_of(image);
  const std::vector<std::uint8_t> f = encoded(m);
  CHECK(f.size() < image.size() + 256);  // the header fields cost little
  CHECK(decoded(f) == m);
}

TEST_CASE("a snapshot_chunk needs no ballot and may carry an empty payload") {
  Message m = chunk_of("");
  m.more = false;  // the image ended exactly at the previous chunk
  CHECK(decoded(encoded(m)) == m);
  m.ballot = Ballot{4, NodeId{2}};  // a reply may carry one; the wire does not mind
  CHECK(decoded(encoded(m)) == m);
}

TEST_CASE("a payload is bounded by frame_bytes_max: by the rules, then by the frame") {
  WireLimits limits;
  limits.frame_bytes_max = 4096;
  std::vector<std::uint8_t> out;
  std::string why;
  CHECK(encode(chunk_of(std::string(4097, 'p')), out, limits, &why) == Status::oversized);
  CHECK(why == "a payload of 4097 bytes exceeds frame_bytes_max 4096");
  // Within the bound alone, but not with the header fields around it.
  CHECK(encode(chunk_of(std::string(4096, 'p')), out, limits, &why) == Status::oversized);
  CHECK(why.find("frame of") != std::string::npos);
  CHECK(out.empty());
  const Message fits = chunk_of(std::string(3900, 'p'));
  CHECK(decoded(encoded(fits, limits), limits) == fits);
}

TEST_CASE("encode refuses snapshot fields where they do not belong, naming the rule") {
  const std::vector<Message> s = sample_messages();
  auto why_refused = [](const Message& m) {
    std::vector<std::uint8_t> out;
    std::string why;
    CHECK(encode(m, out, {}, &why) == Status::malformed);
    CHECK(out.empty());
    return why;
  };
  Message m = s[4];  // heartbeat
  m.payload = "img";
  CHECK(why_refused(m) == "a heartbeat carries 3 payload bytes");
  m = s[7];  // catchup_request: an offset, but no payload
  m.slot_end = Slot{40};
  m.payload = "img";
  CHECK(why_refused(m) == "a catchup_request carries 3 payload bytes");
  m = s[8];  // catchup_reply
  m.payload = "img";
  CHECK(why_refused(m) == "a catchup_reply carries 3 payload bytes");
  m = s[2];  // accept
  m.offset = 9;
  CHECK(why_refused(m) == "an accept with offset 9");
  m = s[8];
  m.offset = 9;
  CHECK(why_refused(m) == "a catchup_reply with offset 9");
  m = s[7];
  m.offset = 9;  // bytes of which snapshot?
  CHECK(why_refused(m) == "a catchup_request holding 9 bytes of no snapshot");

  m = chunk_of("img");
  m.slot_end = Slot{0};
  CHECK(why_refused(m) == "a snapshot_chunk of a snapshot at slot 0");
  m = chunk_of("img");
  m.entries = s[8].entries;
  CHECK(why_refused(m) == "a snapshot_chunk carries 3 entries");
  m = chunk_of("img");
  m.offset = UINT64_MAX - 2;
  CHECK(why_refused(m).find("ends past 2^64") != std::string::npos);
  m.offset = UINT64_MAX - 3;  // the last byte lands at UINT64_MAX - 1
  std::vector<std::uint8_t> out;
  CHECK(encode(m, out) == Status::ok);
  m = chunk_of("img");
  m.ballot = Ballot{3, NodeId{}};
  CHECK(why_refused(m).find("without a node") != std::string::npos);
}
