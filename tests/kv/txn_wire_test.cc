// The commit protocol's entries and messages as bytes (txn/txn_wire.h):
// exact round trips, and every truncation, stray byte, unknown tag, disallowed
// command and over-deep reply refused with a reason.
#include "txn/txn_wire.h"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

#include "kv_command_codec.h"

using namespace synod::kv;
using namespace synod::kv::txn;

namespace {

ShardPart sample_part() {
  ShardPart p;
  p.commands.push_back(Request{Op::decrby, {"acct1", "30"}, {}});
  p.commands.push_back(Request{Op::set, {"k", std::string(300, 'v')}, SetCondition::if_absent});
  p.commands.push_back(Request{Op::mget, {"a", "b"}, {}});
  p.checks.push_back({"acct1", 12345});
  p.checks.push_back({"", kUnknownVersion});
  return p;
}

std::vector<Entry> entries() {
  TxnPlan plan;
  plan.id = {2, 1ull << 40};
  plan.parts[0] = sample_part();
  plan.parts[2] = ShardPart{};
  return {PrepareEntry{{1, 7}, sample_part(), {0, 1, 9}},
          CommitEntry{{1, 7}},
          AbortEntry{{0, 0}},
          BeginEntry{plan},
          DecideEntry{{2, 9}, false, AbortReason::unknown_txn, {2, 5}},
          DecideEntry{{2, 9}, true, AbortReason::none, {}},
          ForgetEntry{{{3, 1}, {3, 7}, {3, 1ull << 40}}, (1ull << 40) + 1},
          ForgetEntry{{}, 0},
          FloorEntry{3, 1ull << 40}};
}

std::vector<Message> messages() {
  Reply nested =
      Reply::array({Reply::integer(-5), Reply::null(), Reply::bulk("x"),
                    Reply::array({Reply::error("ERR e"), Reply::simple("OK")}), Reply::null_array(),
                    Reply::integer(std::numeric_limits<std::int64_t>::min())});
  return {PrepareMsg{{1, 7}, sample_part(), {1, 2}},
          VoteMsg{{1, 7}, 3, false, AbortReason::watch, {}},
          VoteMsg{{1, 7}, 3, true, AbortReason::none, {}},
          VoteMsg{{1, 7}, 3, true, AbortReason::none, {Reply::ok(), Reply::integer(-4)}},
          DecisionMsg{{1, 7}, true},
          AckMsg{{1, 7}, 4, true, {Reply::integer(70), nested}},
          AckMsg{{1, 7}, 4, false, {}},
          InquiryMsg{{0xffffffffu, ~0ull}, 1, {0, 0xffffffffu}},
          FloorMsg{3, 99},
          FloorAckMsg{0xffffffffu, ~0ull}};
}

}  // namespace

TEST_CASE("protocol entries and messages round-trip exactly") {
  for (const Entry& e : entries()) {
    CAPTURE(e.index());
    std::string bytes = encode_entry(e);
    auto back = decode_entry(bytes);
    REQUIRE(back.has_value());
    CHECK(*back == e);
  }
  for (const Message& m : messages()) {
    std::string bytes = encode_message(m);
    auto back = decode_message(bytes);
    REQUIRE(back.has_value());
    CHECK(*back == m);
  }
}

TEST_CASE("every truncation and any trailing byte is refused") {
  std::string_view why;
  for (const Entry& e : entries()) {
    std::string bytes = encode_entry(e);
    for (std::size_t n = 0; n < bytes.size(); ++n)
      CHECK_FALSE(decode_entry(std::string_view(bytes).substr(0, n), &why));
    CHECK_FALSE(decode_entry(bytes + "x", &why));
    CHECK(why == "trailing bytes");
  }
  for (const Message& m : messages()) {
    std::string bytes = encode_message(m);
    for (std::size_t n = 0; n < bytes.size(); ++n)
      CHECK_FALSE(decode_message(std::string_view(bytes).substr(0, n), &why));
    CHECK_FALSE(decode_message(bytes + "x", &why));
  }
}

TEST_CASE("flipped bytes never crash and never decode past the input") {
  for (const Message& m : messages()) {
    std::string bytes = encode_message(m);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped = bytes;
        flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
        auto back = decode_message(flipped);
        if (back) CHECK(encode_message(*back).size() <= flipped.size() + 16);
      }
    }
  }
}

TEST_CASE("unknown tags, bad flags, disallowed commands and deep replies are refused") {
  std::string_view why;
  CHECK_FALSE(decode_entry(std::string(1, '\x09'), &why));
  CHECK(why == "unknown entry tag");
  CHECK_FALSE(decode_message(std::string(1, '\x01'), &why));  // an entry's tag
  CHECK(why == "unknown message tag");
  std::string decision = encode_message(DecisionMsg{{1, 2}, true});
  decision.back() = '\x02';
  CHECK_FALSE(decode_message(decision, &why));
  CHECK(why == "bad flag");
  std::string decide = encode_entry(DecideEntry{{1, 2}, false, AbortReason::timeout, {}});
  decide[decide.size() - 2] = '\x09';  // the reason, before the empty shard list
  CHECK_FALSE(decode_entry(decide, &why));
  CHECK(why == "unknown abort reason");
  // A shard list out of order, or naming a shard twice, cannot come from
  // shards_of(): refused.
  CHECK_FALSE(decode_message(encode_message(InquiryMsg{{1, 2}, 1, {3, 1}}), &why));
  CHECK(why == "shard list not ascending");
  CHECK_FALSE(
      decode_entry(encode_entry(DecideEntry{{1, 2}, false, AbortReason::none, {2, 2}}), &why));
  CHECK(why == "shard list not ascending");
  // A Forget naming ids out of order, or one twice: never proposed.
  CHECK_FALSE(decode_entry(encode_entry(ForgetEntry{{{1, 5}, {1, 3}}, 6}), &why));
  CHECK(why == "forget list not ascending");
  CHECK_FALSE(decode_entry(encode_entry(ForgetEntry{{{1, 5}, {1, 5}}, 6}), &why));
  CHECK(why == "forget list not ascending");
  // A part holding a txn (or any command a transaction may not hold).
  PrepareEntry bad{{1, 1}, {}, {}};
  bad.part.commands.push_back(Request{Op::node_addresses, {"4", "a:1", "b:2"}, {}});
  CHECK_FALSE(decode_entry(encode_entry(bad), &why));
  CHECK(why == "command not allowed in a transaction");
  // Replies nested 9 deep.
  Reply deep = Reply::integer(1);
  for (int i = 0; i < 9; ++i) deep = Reply::array({deep});
  CHECK_FALSE(decode_message(encode_message(AckMsg{{1, 1}, 1, true, {deep}}), &why));
  CHECK(why == "replies nested too deep");
  // A plan naming a shard twice cannot come from encode; built by hand.
  std::string twice;
  twice.push_back('\x04');
  put_varint(&twice, 1);
  put_varint(&twice, 1);
  put_varint(&twice, 2);  // two parts
  for (int i = 0; i < 2; ++i) {
    put_varint(&twice, 5);  // shard 5
    put_varint(&twice, 0);  // no commands
    put_varint(&twice, 0);  // no checks
  }
  CHECK_FALSE(decode_entry(twice, &why));
  CHECK(why == "a shard twice in a plan");
  // A count that promises more than the bytes hold.
  std::string lying;
  lying.push_back('\x13');  // ack
  put_varint(&lying, 1);
  put_varint(&lying, 1);
  put_varint(&lying, 1);
  lying.push_back('\x01');
  put_varint(&lying, 1u << 30);
  CHECK_FALSE(decode_message(lying, &why));
  CHECK(why == "count past the end");
}
