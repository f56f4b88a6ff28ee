// Node heartbeats (synod::GroupSet) on the wire: group beats round-trip,
// and the rules of lib/wire/rules.cc check_beats refuse bad ones on both
// sides (encode and decode).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "corpus_file.h"
#include "raw_frame.h"
#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;

namespace {

Message node_heartbeat() {
  Message m;
  m.type = MessageType::node_heartbeat;
  m.from = NodeId{2};
  m.to = NodeId{1};
  m.slot = Slot{0x1234'5678'9abcULL};  // the incarnation
  m.beats.push_back(
      GroupBeat{MessageType::heartbeat, GroupId{7}, Ballot{4, NodeId{2}}, Slot{3}, Slot{99}, true});
  m.beats.push_back(GroupBeat{MessageType::heartbeat_ack, GroupId{1ULL << 40}, Ballot{9, NodeId{3}},
                              Slot{0}, Slot{12}, false});
  m.beats.push_back(
      GroupBeat{MessageType::heartbeat, GroupId{8}, Ballot{1, NodeId{2}}, Slot{}, Slot{}, false});
  return m;
}

}  // namespace

TEST_CASE("a node heartbeat with group beats survives an encode and decode unchanged") {
  Message m = node_heartbeat();
  std::vector<std::uint8_t> frame;
  REQUIRE(encode(m, frame) == Status::ok);
  Message back;
  DecodeResult r = decode_one(frame, back);
  REQUIRE_MESSAGE(r.status == Status::ok, r.error);
  CHECK(back == m);

  Message empty = node_heartbeat();  // liveness only
  empty.beats.clear();
  frame.clear();
  REQUIRE(encode(empty, frame) == Status::ok);
  REQUIRE(decode_one(frame, back).status == Status::ok);
  CHECK(back == empty);
}

TEST_CASE("bad group beats are refused, naming the rule, by encode and by decode") {
  struct Case {
    const char* rule;
    void (*spoil)(Message&);
  };
  const Case cases[] = {
      {"a node_heartbeat naming a group or a ballot", [](Message& m) { m.group = GroupId{3}; }},
      {"a node_heartbeat naming a group or a ballot",
       [](Message& m) {
         m.ballot = Ballot{1, NodeId{2}};
       }},
      {"a node_heartbeat carrying an accept",
       [](Message& m) { m.beats[0].type = MessageType::accept; }},
      {"a group beat for group 0", [](Message& m) { m.beats[1].group = GroupId{0}; }},
      {"a group heartbeat whose ballot is not its sender's",
       [](Message& m) {
         m.beats[0].ballot = Ballot{4, NodeId{3}};
       }},
      {"a group heartbeat_ack marked quiesce", [](Message& m) { m.beats[1].quiesce = true; }},
      {"heartbeat carries 1 group beats",
       [](Message& m) {
         Message a;
         a.type = MessageType::heartbeat;
         a.from = m.from;
         a.to = m.to;
         a.group = GroupId{1};
         a.ballot = Ballot{1, NodeId{2}};
         a.beats = {m.beats[0]};
         m = a;
       }},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.rule));
    Message m = node_heartbeat();
    c.spoil(m);
    std::vector<std::uint8_t> frame;
    std::string why;
    CHECK(encode(m, frame, {}, &why) == Status::malformed);
    CHECK_MESSAGE(why.find(c.rule) != std::string::npos, why);
    CHECK(frame.empty());
    // The same message built by hand, past the encoder: the decoder refuses it.
    Message out;
    DecodeResult r = decode_one(test::raw_frame(m, {}), out);
    CHECK(r.status == Status::malformed);
    CHECK(r.reason == WireError::invalid);
    CHECK_MESSAGE(r.error.find(c.rule) != std::string::npos, r.error);
  }
}

TEST_CASE("more group beats than beats_max are oversized") {
  Message m = node_heartbeat();
  WireLimits small;
  small.beats_max = 2;
  std::vector<std::uint8_t> frame;
  CHECK(encode(m, frame, small) == Status::oversized);
  REQUIRE(encode(m, frame) == Status::ok);
  Message out;
  DecodeResult r = decode_one(frame, out, small);
  CHECK(r.status == Status::oversized);
  CHECK(r.reason == WireError::oversized);
}

TEST_CASE("a host message carries its bytes and nothing of a group's") {
  Message m;
  m.type = MessageType::host_message;
  m.from = NodeId{2};
  m.to = NodeId{1};
  m.payload = std::string("txn \0\xff", 6);
  std::vector<std::uint8_t> frame;
  REQUIRE(encode(m, frame) == Status::ok);
  Message back;
  REQUIRE(decode_one(frame, back).status == Status::ok);
  CHECK(back == m);

  void (*spoils[])(Message&) = {
      [](Message& x) { x.group = GroupId{3}; }, [](Message& x) { x.ballot = Ballot{1, NodeId{2}}; },
      [](Message& x) { x.slot = Slot{5}; },     [](Message& x) { x.commit = Slot{5}; },
      [](Message& x) { x.reject = true; },
  };
  for (auto spoil : spoils) {
    Message bad = m;
    spoil(bad);
    std::string why;
    frame.clear();
    CHECK(encode(bad, frame, {}, &why) == Status::malformed);
    CHECK_MESSAGE(why.find("a host_message carrying a group message's fields") != std::string::npos,
                  why);
    Message out;
    DecodeResult r = decode_one(test::raw_frame(bad, {}), out);
    CHECK(r.status == Status::malformed);
  }
  // Entries or beats are refused by their own rules.
  Message with_entries = m;
  with_entries.entries.push_back(Entry{Slot{1}, Ballot{1, NodeId{2}}, Value::noop()});
  CHECK(encode(with_entries, frame) == Status::malformed);
}

TEST_CASE("a forged node heartbeat whose group beats are misaligned is refused") {
  // Found by synod-decode-fuzz (tests/fuzz/corpus/decode, this file): the
  // FlatBuffers verifier checks a vector of structs for its length's
  // alignment only, and the beats of this flatbuffer sit at 4 mod 8.
  // Reading them was undefined behaviour (UBSan: misaligned GroupBeat).
  const std::vector<std::uint8_t> seed =
      test::decode_corpus_file("body-node-heartbeat-misaligned-beats");
  REQUIRE((seed[0] & 1) == 0);  // the fuzz target's flatbuffer mode
  const std::vector<std::uint8_t> frame =
      test::frame_of(std::span<const std::uint8_t>(seed).subspan(1));
  Message m;
  DecodeResult r = decode_one(frame, m, WireLimits{});
  CHECK(r.status == Status::malformed);
  CHECK(r.reason == WireError::bad_buffer);
  CHECK(r.error.find("not aligned") != std::string::npos);
  // An encoder's frame of the same message type is aligned and decodes.
  std::vector<std::uint8_t> good;
  REQUIRE(encode(node_heartbeat(), good) == Status::ok);
  CHECK(decode_one(good, m, WireLimits{}).status == Status::ok);
}
