// The glue that runs the commit protocol on a sharded node's groups
// (examples/kv/shard_txns.h) and the planner that splits a client's
// cross-shard request (examples/kv/txn_plan.h), with a fake host: three
// nodes, each a replica of every shard; a log per shard whose entries every
// node applies in order; host messages in a queue; leaders set by the test.
#include "shard_txns.h"

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kv_command_codec.h"
#include "txn/txn_wire.h"
#include "txn_codec.h"
#include "txn_plan.h"

using namespace synod;
using namespace synod::kv;

namespace {

Request cmd(Op op, std::vector<std::string> args) { return Request{op, std::move(args), {}}; }

class FakeCluster;

class FakeNode : public ShardTxnHost {
 public:
  FakeNode(FakeCluster& c, NodeId id, std::size_t shards);
  NodeId self() const override { return id_; }
  std::optional<Ballot> leading(txn::ShardId shard) const override;
  NodeId leader_of(txn::ShardId shard) const override;
  void propose(txn::ShardId shard, std::string entry, std::function<void(bool)> done) override;
  void send(NodeId to, std::string payload) override;
  void wake() override { woken_ = true; }

  FakeCluster& c_;
  NodeId id_;
  std::vector<std::unique_ptr<KvStore>> stores_;
  std::unique_ptr<ShardTxns> txns_;
  bool woken_ = false;
};

class FakeCluster {
 public:
  explicit FakeCluster(std::size_t shards) : shards_(shards), leaders_(shards), rounds_(shards, 1) {
    for (std::uint64_t n = 1; n <= 3; ++n)
      nodes_.push_back(std::make_unique<FakeNode>(*this, NodeId{n}, shards));
    for (std::size_t s = 0; s < shards; ++s) leaders_[s] = NodeId{s % 3 + 1};
  }
  FakeNode& node(std::uint64_t id) { return *nodes_[id - 1]; }
  // A new leader (a new ballot): what the old one proposed and is not yet
  // chosen is lost, as a failover may lose it.
  void elect(txn::ShardId shard, NodeId leader) {
    leaders_[shard] = leader;
    ++rounds_[shard];
    std::deque<Proposal> kept;
    for (Proposal& p : proposals_) {
      if (p.shard == shard) {
        p.done(false);
      } else {
        kept.push_back(std::move(p));
      }
    }
    proposals_.swap(kept);
  }
  // Runs until nothing moves: proposals chosen and applied on every node,
  // messages delivered, flushes and ticks.
  bool settle(int ticks_max = 400) {
    for (int i = 0; i < ticks_max; ++i) {
      bool moved = step();
      if (!moved) {
        for (auto& n : nodes_) n->txns_->tick();
        if (!step()) {
          bool idle = true;
          for (auto& n : nodes_)
            for (txn::ShardId s = 0; s < shards_; ++s) idle = idle && n->txns_->prepared(s) == 0;
          if (idle && proposals_.empty() && messages_.empty()) return true;
        }
      }
    }
    return false;
  }
  bool step() {
    bool moved = false;
    while (!proposals_.empty()) {
      Proposal p = std::move(proposals_.front());
      proposals_.pop_front();
      for (auto& n : nodes_) {
        n->stores_[p.shard]->count_log_command();
        n->txns_->apply(p.shard, p.entry);
      }
      p.done(true);
      moved = true;
    }
    while (!messages_.empty()) {
      auto [to, payload] = std::move(messages_.front());
      messages_.pop_front();
      if (!drop_messages_) node(to.value).txns_->on_message(NodeId{}, payload);
      moved = true;
    }
    for (auto& n : nodes_) {
      if (!n->woken_) continue;
      n->woken_ = false;
      n->txns_->flush();
      moved = true;
    }
    return moved;
  }

  struct Proposal {
    txn::ShardId shard;
    std::string entry;
    std::function<void(bool)> done;
  };
  std::size_t shards_;
  std::vector<NodeId> leaders_;
  std::vector<std::uint64_t> rounds_;
  std::vector<std::unique_ptr<FakeNode>> nodes_;
  std::deque<Proposal> proposals_;
  std::deque<std::pair<NodeId, std::string>> messages_;
  bool drop_messages_ = false;
};

FakeNode::FakeNode(FakeCluster& c, NodeId id, std::size_t shards) : c_(c), id_(id) {
  std::vector<KvStore*> stores;
  for (std::size_t s = 0; s < shards; ++s) {
    stores_.push_back(std::make_unique<KvStore>());
    stores.push_back(stores_.back().get());
  }
  ShardTxnsOptions o;
  o.shards = shards;
  txns_ = std::make_unique<ShardTxns>(*this, stores, o);
}

std::optional<Ballot> FakeNode::leading(txn::ShardId shard) const {
  if (c_.leaders_[shard] != id_) return std::nullopt;
  return Ballot{c_.rounds_[shard], id_};
}
NodeId FakeNode::leader_of(txn::ShardId shard) const { return c_.leaders_[shard]; }
void FakeNode::propose(txn::ShardId shard, std::string entry, std::function<void(bool)> done) {
  if (c_.leaders_[shard] != id_) return done(false);
  c_.proposals_.push_back({shard, std::move(entry), std::move(done)});
}
void FakeNode::send(NodeId to, std::string payload) {
  c_.messages_.emplace_back(to, std::move(payload));
}

std::string value(FakeCluster& c, std::uint64_t node, txn::ShardId shard, const std::string& key) {
  const std::string* v = c.node(node).stores_[shard]->find(key);
  return v ? *v : "(nil)";
}

// Two keys on different shards of a 4-shard map.
struct Keys {
  SlotMap map{4};
  std::string a = "a", b;  // "a" on shard(a); b on another
  txn::ShardId sa = 0, sb = 0;
  Keys() {
    sa = static_cast<txn::ShardId>(map.shard_of_key(a));
    for (int i = 0;; ++i) {
      b.assign(1, 'b');
      b.append(std::to_string(i));
      sb = static_cast<txn::ShardId>(map.shard_of_key(b));
      if (sb != sa) break;
    }
  }
};

Request exec_of(std::vector<Request> queued, std::vector<WatchedKey> watched = {}) {
  Request r = make_txn(watched, queued);
  r.args[0] = encode_watch_block(watched);
  return r;
}

}  // namespace

TEST_CASE("plan_request splits an EXEC and multi-key commands by shard and puts the replies back") {
  Keys k;
  std::string why;
  Request exec = exec_of(
      {cmd(Op::incrby, {k.a, "5"}), cmd(Op::mget, {k.b, k.a, k.b}), cmd(Op::del, {k.a, k.b})},
      {WatchedKey{k.b, 7}});
  std::optional<PlannedTxn> plan = plan_request(exec, SlotMap{4}, &why);
  REQUIRE(plan);
  CHECK(plan->exec);
  REQUIRE(plan->parts.size() == 2);
  // The watched key's shard comes first: it is the first key (route).
  CHECK(plan->parts.at(k.sb).checks == std::vector<WatchedKey>{{k.b, 7}});
  CHECK(plan->parts.at(k.sa).commands.size() == 3);  // INCRBY, MGET a, DEL a
  CHECK(plan->parts.at(k.sb).commands.size() == 2);  // MGET b b, DEL b
  CHECK(plan->parts.at(k.sb).commands[0] == cmd(Op::mget, {k.b, k.b}));

  txn::ClientOutcome o;
  o.kind = txn::ClientOutcome::Kind::committed;
  o.results[k.sa] = {Reply::integer(5), Reply::array({Reply::bulk("A")}), Reply::integer(1)};
  o.results[k.sb] = {Reply::array({Reply::bulk("B"), Reply::bulk("B")}), Reply::integer(1)};
  Reply r = planned_reply(*plan, o);
  REQUIRE(r.kind == Reply::Kind::array);
  REQUIRE(r.elements.size() == 3);
  CHECK(r.elements[0] == Reply::integer(5));
  CHECK(r.elements[1] ==
        Reply::array({Reply::bulk("B"), Reply::bulk("A"), Reply::bulk("B")}));  // key order
  CHECK(r.elements[2] == Reply::integer(2));

  o.kind = txn::ClientOutcome::Kind::aborted;
  o.reason = txn::AbortReason::watch;
  CHECK(planned_reply(*plan, o) == Reply::null_array());

  // A lone MSET across shards answers OK; MSETNX across shards is refused.
  std::optional<PlannedTxn> mset =
      plan_request(cmd(Op::mset, {k.a, "1", k.b, "2"}), SlotMap{4}, &why);
  REQUIRE(mset);
  CHECK_FALSE(mset->exec);
  txn::ClientOutcome ok;
  ok.kind = txn::ClientOutcome::Kind::committed;
  ok.results[k.sa] = {Reply::ok()};
  ok.results[k.sb] = {Reply::ok()};
  CHECK(planned_reply(*mset, ok) == Reply::ok());
  CHECK_FALSE(plan_request(cmd(Op::msetnx, {k.a, "1", k.b, "2"}), SlotMap{4}, &why));
  CHECK(why.find("MSETNX") != std::string::npos);
}

TEST_CASE("ShardTxns commits a two-shard transaction led by two nodes, on every replica") {
  Keys k;
  FakeCluster c(4);
  c.elect(k.sa, NodeId{1});
  c.elect(k.sb, NodeId{2});
  std::optional<txn::ClientOutcome> got;
  std::map<txn::ShardId, txn::ShardPart> parts;
  parts[k.sa].commands.push_back(cmd(Op::set, {k.a, "x"}));
  parts[k.sb].commands.push_back(cmd(Op::incrby, {k.b, "3"}));
  CHECK_FALSE(
      c.node(2).txns_->start(k.sa, parts, [](const txn::ClientOutcome&) {}));  // not its leader
  REQUIRE(c.node(1).txns_->start(k.sa, parts, [&](const txn::ClientOutcome& o) { got = o; }));
  REQUIRE(c.settle());
  REQUIRE(got);
  CHECK(got->kind == txn::ClientOutcome::Kind::committed);
  CHECK(got->results.at(k.sb) == std::vector<Reply>{Reply::integer(3)});
  for (std::uint64_t n = 1; n <= 3; ++n) {
    CHECK(value(c, n, k.sa, k.a) == "x");
    CHECK(value(c, n, k.sb, k.b) == "3");
    CHECK_FALSE(c.node(n).txns_->any_locked(k.sb));
  }
  CHECK(c.node(1).txns_->stats().messages_sent > 0);   // prepare to node 2
  CHECK(c.node(1).txns_->stats().messages_local > 0);  // prepare to its own shard
  CHECK(c.node(1).txns_->stats().committed == 1);
}

TEST_CASE("ShardTxns: a key locked by a prepared transaction, and the commit's new WATCH version") {
  Keys k;
  FakeCluster c(4);
  c.elect(k.sa, NodeId{1});
  c.elect(k.sb, NodeId{2});
  std::uint64_t before = c.node(2).stores_[k.sb]->version_of(k.b);
  std::map<txn::ShardId, txn::ShardPart> parts;
  parts[k.sa].commands.push_back(cmd(Op::set, {k.a, "1"}));
  parts[k.sb].commands.push_back(cmd(Op::set, {k.b, "1"}));
  std::optional<txn::ClientOutcome> got;
  REQUIRE(c.node(1).txns_->start(k.sa, parts, [&](const txn::ClientOutcome& o) { got = o; }));
  // Run until shard b holds the prepare, without letting decisions through.
  for (int i = 0; i < 10 && !c.node(3).txns_->locked(k.sb, k.b); ++i) {
    c.drop_messages_ = false;
    c.step();
  }
  bool seen_locked = c.node(3).txns_->locked(k.sb, k.b);  // a follower holds the lock too
  REQUIRE(c.settle());
  CHECK(seen_locked);
  CHECK_FALSE(c.node(3).txns_->locked(k.sb, k.b));
  CHECK(c.node(2).stores_[k.sb]->version_of(k.b) != before);
  REQUIRE(got);
  CHECK(got->kind == txn::ClientOutcome::Kind::committed);
}

TEST_CASE("ShardTxns: the coordinator's leader fails over mid-protocol; nothing stays prepared") {
  Keys k;
  FakeCluster c(4);
  c.elect(k.sa, NodeId{1});
  c.elect(k.sb, NodeId{2});
  std::map<txn::ShardId, txn::ShardPart> parts;
  parts[k.sa].commands.push_back(cmd(Op::set, {k.a, "1"}));
  parts[k.sb].commands.push_back(cmd(Op::set, {k.b, "1"}));
  std::optional<txn::ClientOutcome> got;
  REQUIRE(c.node(1).txns_->start(k.sa, parts, [&](const txn::ClientOutcome& o) { got = o; }));
  c.step();  // Begin chosen, prepares out
  c.step();
  c.elect(k.sa, NodeId{3});  // node 1 loses the coordinator's shard
  REQUIRE(c.settle());
  REQUIRE(got);
  // The new leader aborts what its log holds undecided. Node 1 answers
  // unknown if it noticed its loss first, or the abort if it applied the
  // new leader's decision first (a replica's applied decision is the
  // truth); never a commit. Every replica agrees, and nothing is locked.
  CHECK(got->kind != txn::ClientOutcome::Kind::committed);
  if (got->kind == txn::ClientOutcome::Kind::aborted) CHECK(value(c, 1, k.sb, k.b) == "(nil)");
  for (std::uint64_t n = 1; n <= 3; ++n) {
    CHECK(value(c, n, k.sa, k.a) == value(c, 1, k.sa, k.a));
    CHECK(value(c, n, k.sb, k.b) == value(c, 1, k.sb, k.b));
    CHECK((value(c, n, k.sa, k.a) == "1") == (value(c, n, k.sb, k.b) == "1"));
    CHECK_FALSE(c.node(n).txns_->any_locked(k.sb));
  }
}

TEST_CASE(
    "ShardTxns drops malformed and misdirected host messages and malformed entries, counted") {
  Keys k;
  FakeCluster c(4);
  c.elect(k.sb, NodeId{2});
  ShardTxns& t = *c.node(1).txns_;
  t.on_message(NodeId{2}, "");
  t.on_message(NodeId{2}, std::string("\x09garbage", 8));  // shard 9 of 4
  std::string junk;
  put_varint(&junk, 1);
  junk.append(2, static_cast<char>(0xff));
  t.on_message(NodeId{2}, junk);
  CHECK(t.stats().messages_malformed == 3);
  // A well-formed prepare for a shard node 1 does not lead: dropped.
  txn::PrepareMsg m{txn::TxnId{k.sa, 1}, {}, {}};
  t.on_message(NodeId{2}, txn_envelope_bytes(txn::Envelope{k.sb, m}));
  CHECK(t.stats().messages_not_leader == 1);
  CHECK(t.stats().messages_received == 1);
  CHECK(c.proposals_.empty());
  // A tag-17 entry that does not decode: the same error on every replica.
  Reply r = t.apply(k.sb, std::string("\x11\x07", 2));
  CHECK(r.is_error());
  CHECK(t.stats().entries_malformed == 1);
  CHECK(c.node(1).stores_[k.sb]->key_count() == 0);
}

TEST_CASE("ShardTxns: a shard's snapshot keeps a prepared transaction's locks and its decision") {
  Keys k;
  FakeCluster c(4);
  c.elect(k.sa, NodeId{1});
  c.elect(k.sb, NodeId{2});
  // Before any transaction the image is the store's own (KvStore format).
  c.node(3).stores_[k.sb]->execute(cmd(Op::set, {"plain", "1"}));
  CHECK(c.node(3).txns_->snapshot(k.sb) == c.node(3).stores_[k.sb]->snapshot());

  std::map<txn::ShardId, txn::ShardPart> parts;
  parts[k.sa].commands.push_back(cmd(Op::set, {k.a, "1"}));
  parts[k.sb].commands.push_back(cmd(Op::incrby, {k.b, "4"}));
  REQUIRE(c.node(1).txns_->start(k.sa, parts, [](const txn::ClientOutcome&) {}));
  for (int i = 0; i < 10 && !c.node(3).txns_->locked(k.sb, k.b); ++i) c.step();
  REQUIRE(c.node(3).txns_->locked(k.sb, k.b));
  std::string prepared_image = c.node(3).txns_->snapshot(k.sb);
  CHECK(prepared_image.starts_with(kTxnSnapshotMagic));

  FakeCluster fresh(4);
  ShardTxns& t = *fresh.node(3).txns_;
  CHECK_FALSE(t.restore(k.sb, "garbage"));
  CHECK_FALSE(t.restore(k.sb, std::string(kTxnSnapshotMagic) + "\x03"));
  CHECK(t.prepared(k.sb) == 0);
  REQUIRE(t.restore(k.sb, prepared_image));
  CHECK(t.locked(k.sb, k.b));
  CHECK(t.prepared(k.sb) == 1);
  CHECK(fresh.node(3).stores_[k.sb]->find("plain") != nullptr);

  // The coordinator's side: once decided, its image holds the decision.
  REQUIRE(c.settle());
  std::string decided_image = c.node(2).txns_->snapshot(k.sa);
  REQUIRE(fresh.node(2).txns_->restore(k.sa, decided_image));
  const txn::Coordinator& restored = fresh.node(2).txns_->coordinator(k.sa);
  const txn::Coordinator& original = c.node(2).txns_->coordinator(k.sa);
  CHECK(restored.undecided() == 0);
  CHECK(restored.save() == original.save());
  CHECK(fresh.node(2).txns_->participant(k.sa).save() == c.node(2).txns_->participant(k.sa).save());
}

TEST_CASE("ShardTxns: the client hears of a commit once it is decided, with the votes' replies") {
  Keys k;
  FakeCluster c(4);
  c.elect(k.sa, NodeId{1});
  c.elect(k.sb, NodeId{2});
  c.node(1).stores_[k.sb]->execute(cmd(Op::set, {k.b, "10"}));  // unused replica copy
  std::map<txn::ShardId, txn::ShardPart> parts;
  parts[k.sa].commands.push_back(cmd(Op::getset, {k.a, "new"}));
  parts[k.sb].commands.push_back(cmd(Op::incrby, {k.b, "5"}));
  parts[k.sb].commands.push_back(cmd(Op::get, {k.b}));
  for (std::uint64_t n = 1; n <= 3; ++n) {
    c.node(n).stores_[k.sa]->execute(cmd(Op::set, {k.a, "old"}));
    c.node(n).stores_[k.sb]->execute(cmd(Op::set, {k.b, "10"}));
  }
  std::optional<txn::ClientOutcome> got;
  bool still_locked_when_answered = false;
  REQUIRE(c.node(1).txns_->start(k.sa, parts, [&](const txn::ClientOutcome& o) {
    got = o;
    still_locked_when_answered = c.node(2).txns_->locked(k.sb, k.b);
  }));
  REQUIRE(c.settle());
  REQUIRE(got);
  CHECK(got->kind == txn::ClientOutcome::Kind::committed);
  CHECK(still_locked_when_answered);  // before the participants' commits
  CHECK(got->results.at(k.sa) == std::vector<Reply>{Reply::bulk("old")});
  CHECK(got->results.at(k.sb) == std::vector<Reply>{Reply::integer(15), Reply::bulk("15")});
  CHECK(value(c, 3, k.sb, k.b) == "15");  // and the commit gave the same
}

TEST_CASE("ShardTxns: a group refusing every proposal restarts the drive once a tick, ids unique") {
  Keys k;
  FakeCluster c(4);
  c.elect(k.sa, NodeId{1});
  c.elect(k.sb, NodeId{2});
  ShardTxns& t = *c.node(1).txns_;
  std::vector<txn::ClientOutcome> outcomes;
  auto start = [&] {
    std::map<txn::ShardId, txn::ShardPart> parts;
    parts[k.sb].commands.push_back(cmd(Op::incr, {k.b}));
    REQUIRE(t.start(k.sa, parts, [&](const txn::ClientOutcome& o) { outcomes.push_back(o); }));
  };
  for (int i = 0; i < 5; ++i) start();
  // Every Begin refused: five failures, one restart at the next tick.
  std::deque<FakeCluster::Proposal> refused;
  refused.swap(c.proposals_);
  for (auto& p : refused) p.done(false);
  CHECK(t.stats().proposals_failed == 5);
  CHECK(t.stats().drives_restarted == 0);
  t.tick();
  CHECK(t.stats().drives_restarted == 1);
  REQUIRE(outcomes.size() == 5);
  for (const txn::ClientOutcome& o : outcomes) CHECK(o.kind == txn::ClientOutcome::Kind::unknown);
  // Their prepares went out with the refused Begins (two rounds): the
  // restarted drive logs an abort for each, which every participant hears,
  // so the lock the first one took on k.b is released without an inquiry.
  REQUIRE(c.settle());
  // Aborted (nothing applied), then forgotten on both sides once acked.
  CHECK(value(c, 2, k.sb, k.b) == "(nil)");
  for (const txn::ClientOutcome& o : outcomes) {
    CHECK_FALSE(t.coordinator(k.sa).decision(o.txn).has_value());
    CHECK(t.coordinator(k.sa).floor() > o.txn.seq);
    CHECK(c.node(2).txns_->participant(k.sb).floor_of(k.sa) > o.txn.seq);
  }
  CHECK(t.coordinator(k.sa).records() == 0);
  CHECK(c.node(2).txns_->participant(k.sb).finished_count() == 0);
  for (std::size_t n = 1; n <= 3; ++n) CHECK_FALSE(c.node(n).txns_->any_locked(k.sb));
  // Same term after the restart: new ids, never one handed out before.
  start();
  REQUIRE(c.settle());
  REQUIRE(outcomes.size() == 6);
  CHECK(outcomes[5].kind == txn::ClientOutcome::Kind::committed);
  for (std::size_t i = 0; i < 5; ++i) CHECK(!(outcomes[i].txn == outcomes[5].txn));
  CHECK(value(c, 3, k.sb, k.b) == "1");
}
