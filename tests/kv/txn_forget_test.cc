// Forgetting finished transactions (docs/kv.md "Forgetting"): records go
// on every replica of the coordinator and of each participant once every
// shard acknowledged, the floor reaches every participant, late messages
// and entries of a forgotten transaction change nothing, a record waits
// for its last acknowledgement, and snapshots carry the floors.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "txn/txn_wire.h"
#include "txn_world.h"

using namespace synod::kv;
using namespace synod::kv::txn;
using synod::kv::txn::test::World;

namespace {

Request cmd(Op op, std::vector<std::string> args) { return Request{op, std::move(args), {}}; }

// Moves 30 from "a" (shard 0, the coordinator) to "b" (shard 1).
TxnPlan transfer(std::uint64_t seq) {
  TxnPlan p;
  p.id = {0, seq};
  p.parts[0].commands.push_back(cmd(Op::decrby, {"a", "30"}));
  p.parts[1].commands.push_back(cmd(Op::incrby, {"b", "30"}));
  return p;
}

World two_shards() {
  World w(2, 1);
  w.seed_key(0, "a", "100");
  w.seed_key(1, "b", "100");
  return w;
}

std::string value(World& w, ShardId s, const std::string& key, std::size_t replica = 0) {
  auto v = w.store(s, replica).find(key);
  return v ? std::string(*v) : "(nil)";
}

bool has_vote_no(const Effects& fx) {
  for (const Envelope& e : fx.send)
    if (const auto* v = std::get_if<VoteMsg>(&e.msg); v != nullptr && !v->yes) return true;
  return false;
}

}  // namespace

TEST_CASE(
    "a finished transaction is forgotten on every replica and the floor reaches every shard") {
  World w = two_shards();
  TxnPlan p = transfer(7);
  w.start(p);
  REQUIRE(w.settle());  // settle() waits for every record to go
  CHECK(w.decision(0, p.id) == true);
  CHECK(value(w, 0, "a") == "70");
  CHECK(value(w, 1, "b", 1) == "130");
  for (std::size_t r = 0; r < 2; ++r) {
    CHECK(w.coordinator(0, r).records() == 0);
    CHECK_FALSE(w.coordinator(0, r).decision(p.id).has_value());
    CHECK(w.coordinator(0, r).floor() == 8);
    for (ShardId s = 0; s < 2; ++s) {
      CHECK(w.participant(s, r).finished_count() == 0);
      CHECK(w.participant(s, r).floor_of(0) == 8);
    }
  }
  CHECK(w.changed_records() == 0);
}

TEST_CASE("late messages and entries of a forgotten transaction change nothing") {
  World w = two_shards();
  TxnPlan p = transfer(7);
  w.start(p);
  REQUIRE(w.settle());
  REQUIRE(w.coordinator(0).floor() > p.id.seq);
  Participant& b = w.participant(1);
  Coordinator& c = w.coordinator(0);
  ShardList shards{0, 1};
  // A duplicated prepare: a no vote, no entry, no lock.
  Effects fx = b.on_prepare(PrepareMsg{p.id, p.parts.at(1), shards});
  CHECK(fx.propose.empty());
  CHECK(has_vote_no(fx));
  fx = b.apply(PrepareEntry{p.id, p.parts.at(1), shards});  // even if logged
  CHECK(has_vote_no(fx));
  CHECK(b.locks() == 0);
  CHECK(b.prepared_count() == 0);
  // A late commit, as a message and as an entry: acked, never applied again.
  fx = b.on_decision(DecisionMsg{p.id, true});
  CHECK(fx.propose.empty());
  REQUIRE(fx.send.size() == 1);
  CHECK(std::holds_alternative<AckMsg>(fx.send[0].msg));
  b.apply(CommitEntry{p.id});
  CHECK(value(w, 1, "b") == "130");
  CHECK(b.finished_count() == 0);
  // A stale inquiry: abort, without a log entry or a new record.
  fx = c.on_inquiry(InquiryMsg{p.id, 1, shards});
  CHECK(fx.propose.empty());
  bool abort_sent = false;
  for (const Envelope& e : fx.send)
    if (const auto* d = std::get_if<DecisionMsg>(&e.msg)) abort_sent = !d->commit;
  CHECK(abort_sent);
  // A late Begin or Decide below the floor: no record comes back.
  c.apply(BeginEntry{p});
  c.apply(DecideEntry{p.id, false, AbortReason::in_doubt, shards});
  CHECK(c.records() == 0);
  CHECK_FALSE(c.decision(p.id).has_value());
  // A new transaction above the floor runs as ever.
  TxnPlan next = transfer(9);
  w.start(next);
  REQUIRE(w.settle());
  CHECK(w.decision(0, next.id) == true);
  CHECK(value(w, 1, "b") == "160");
  CHECK(w.coordinator(0).floor() == 10);
  CHECK(w.changed_records() == 0);
}

TEST_CASE("a record stays until its last shard acknowledges the decision") {
  World w = two_shards();
  TxnPlan p = transfer(7);
  w.start(p);
  // Run with every acknowledgement from shard 1 lost.
  for (int round = 0; round < 200; ++round) {
    w.choose_all();
    auto& net = w.network();
    while (!net.empty()) {
      const auto* a = std::get_if<AckMsg>(&net.front().msg);
      if (a != nullptr && a->from == 1)
        net.erase(net.begin());
      else
        w.deliver_one();
    }
    w.tick_all();
  }
  CHECK(w.decision(0, p.id) == true);
  CHECK(w.coordinator(0).records() == 1);
  CHECK(w.coordinator(0).floor() == 0);
  CHECK(w.participant(1).outcome(p.id) == true);  // not forgotten either
  REQUIRE(w.settle());                            // the acks get through
  CHECK(w.coordinator(0).records() == 0);
  CHECK(w.participant(1).floor_of(0) == 8);
}

TEST_CASE("snapshots carry the floors, and images from before them load") {
  World w = two_shards();
  w.start(transfer(7));
  REQUIRE(w.settle());
  KvStore store;
  Coordinator c(0);
  REQUIRE(c.load(w.coordinator(0).save()));
  CHECK(c.floor() == 8);
  CHECK(c.records() == 0);
  Participant part(1, store);
  REQUIRE(part.load(w.participant(1).save()));
  CHECK(part.floor_of(0) == 8);
  // A restored participant refuses the forgotten transaction's prepare too.
  TxnPlan p = transfer(7);
  CHECK(has_vote_no(part.apply(PrepareEntry{p.id, p.parts.at(1), {0, 1}})));
  CHECK(part.locks() == 0);
  // An older image: a coordinator's even list of (Begin, Decide) pairs, a
  // participant's three lists.
  Coordinator old(0);
  REQUIRE(old.load(encode_list({encode_entry(BeginEntry{p}), std::string()})));
  CHECK(old.records() == 1);
  CHECK(old.floor() == 0);
  Participant old_part(1, store);
  REQUIRE(old_part.load(encode_list({encode_list({}), encode_list({}), encode_list({})})));
  CHECK(old_part.floor_of(0) == 0);
  // Neither takes bytes that are not an image.
  CHECK_FALSE(c.load("not an image"));
  CHECK_FALSE(part.load(encode_list({"x"})));
  CHECK(c.floor() == 8);  // unchanged by the refused load
}

TEST_CASE("a Forget never raises the floor past a record logged after it was proposed") {
  // The leader chose floor 11 after forgetting 0.10; an old term's Begin for
  // 0.5 was chosen before the Forget: the floor stops at 5 and 0.5 lives on.
  Coordinator c(0);
  TxnPlan ten = transfer(10), five = transfer(5);
  c.apply(BeginEntry{ten});
  c.apply(DecideEntry{ten.id, true, AbortReason::none, {0, 1}});
  c.apply(BeginEntry{five});
  c.apply(ForgetEntry{{ten.id}, 11});
  CHECK(c.records() == 1);
  CHECK(c.floor() == 5);
  CHECK_FALSE(c.decision(ten.id).has_value());
  // 0.10 is forgotten although above the floor: a stale inquiry about it
  // gets an abort with no entry, and a late Decide makes no record.
  Effects fx = c.on_inquiry(InquiryMsg{ten.id, 1, {0, 1}});
  CHECK(fx.propose.empty());
  c.apply(DecideEntry{ten.id, false, AbortReason::unknown_txn, {0, 1}});
  CHECK(c.records() == 1);
  c.apply(DecideEntry{five.id, false, AbortReason::timeout, {0, 1}});
  CHECK(c.decision(five.id) == false);  // decided like any record above the floor
  // A snapshot keeps the forgotten id above the floor.
  Coordinator restored(0);
  REQUIRE(restored.load(c.save()));
  restored.apply(DecideEntry{ten.id, false, AbortReason::unknown_txn, {0, 1}});
  CHECK(restored.records() == 1);  // 0.5 only
  // Once 0.5 goes, the floor passes 0.10 too (every id up to it is
  // forgotten or never begun), though this Forget's own floor was 6:
  // otherwise 0.10's shards would wait for it until the next Forget.
  c.apply(ForgetEntry{{five.id}, 6});
  CHECK(c.records() == 0);
  CHECK(c.floor() == 11);
  // Below the floor now: a late Begin or Decide makes no record.
  c.apply(BeginEntry{transfer(4)});
  c.apply(BeginEntry{transfer(8)});
  c.apply(DecideEntry{TxnId{0, 3}, false, AbortReason::unknown_txn, {0}});
  CHECK(c.records() == 0);
}
