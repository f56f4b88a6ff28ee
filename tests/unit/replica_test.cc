// The Replica's contract as a host sees it, one behaviour per test.
#include "synod/replica.h"

#include <doctest/doctest.h>

#include <optional>
#include <vector>

#include "test_cluster.h"

using namespace synod;

namespace {

Config config(std::uint64_t id, std::size_t voters = 3) {
  Config c;
  c.id = NodeId{id};
  for (std::uint64_t i = 1; i <= voters; ++i) c.voters.push_back(NodeId{i});
  return c;
}

// A message from `from` to `to`; the ballot, when round is non-zero, is
// {round, ballot_node} (the sender's own unless given).
Message msg(MessageType type, std::uint64_t from, std::uint64_t to, std::uint64_t round = 0,
            std::uint64_t ballot_node = 0) {
  Message m;
  m.type = type;
  m.from = NodeId{from};
  m.to = NodeId{to};
  if (round) m.ballot = Ballot{round, NodeId{ballot_node ? ballot_node : from}};
  if (type == MessageType::prepare) m.slot = Slot{1};
  return m;
}

// Finishes the node's Readys in the harness's loop; returns what it sent.
std::vector<Message> sent_by(test::TestCluster& t, std::uint64_t id) {
  t.drain(id);
  return t.take_wire();
}

}  // namespace

TEST_CASE("a single-replica cluster elects itself and commits a proposal") {
  test::TestCluster t(1);
  for (int i = 0; i < 25 && t.leader() != 1; ++i) t.tick_all(1);
  REQUIRE(t.leader() == 1);
  ProposeResult p = t.node(1).propose("hello");
  REQUIRE(p.ok());
  t.settle();
  const std::vector<Entry>& applied = t.at(1).committed;
  const std::vector<ProposalOutcome>& outcomes = t.at(1).outcomes;
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].ticket == p.ticket);
  CHECK(outcomes[0].outcome == Outcome::committed);
  REQUIRE(!applied.empty());
  CHECK(applied.back().value.commands().to_strings() == std::vector<std::string>{"hello"});
  CHECK(outcomes[0].slot == applied.back().slot);
}

TEST_CASE("a follower refuses proposals with not_leader") {
  MemoryStorage s;
  Replica r(config(2), s);
  ProposeResult p = r.propose("x");
  CHECK(p.status == Status::not_leader);
  CHECK(!p.leader_hint.valid());
}

TEST_CASE("a follower names the leader it hears in the not_leader hint") {
  auto t = test::TestCluster::alone(2, 3);
  t.node(2).step(msg(MessageType::heartbeat, 1, 2, 1));
  t.drain(2);
  CHECK(t.node(2).propose("x").leader_hint == NodeId{1});
}

TEST_CASE("an acceptor persists its promise before the promise is sent") {
  MemoryStorage s;
  Replica r(config(2), s);
  Message prep = msg(MessageType::prepare, 1, 2, 3);
  r.step(prep);
  Ready rd = r.ready();
  REQUIRE(rd.hard_state.has_value());
  CHECK(rd.hard_state->promised == prep.ballot);
  CHECK(rd.must_sync);
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].type == MessageType::promise);
}

TEST_CASE("a restarted replica recovers its promise and refuses lower ballots") {
  auto t = test::TestCluster::alone(2, 3);
  t.node(2).step(msg(MessageType::prepare, 3, 2, 5));
  REQUIRE(sent_by(t, 2).size() == 1);  // the promise
  t.stop(2);
  t.at(2).storage.crash();
  t.start(2);
  CHECK(t.node(2).info().promised == Ballot{5, NodeId{3}});
  Message acc = msg(MessageType::accept, 1, 2, 4);
  acc.entries = {Entry{Slot{1}, acc.ballot, Value::of_commands({"old"})}};
  t.node(2).step(acc);
  auto msgs = sent_by(t, 2);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].type == MessageType::reject);
  CHECK(msgs[0].ballot == Ballot{5, NodeId{3}});
  CHECK(t.at(2).storage.entries().empty());
}

TEST_CASE("a replica whose storage was wiped never answers a prepare while rejoining") {
  auto t = test::TestCluster::alone(2, 3, [](Config& c) { c.join_existing = true; });
  CHECK(t.node(2).info().role == Role::rejoining);
  sent_by(t, 2);
  CHECK(t.at(2).storage.hard_state().voting == false);
  t.node(2).step(msg(MessageType::prepare, 1, 2, 1));
  for (const Message& m : sent_by(t, 2)) CHECK(m.type != MessageType::promise);
  CHECK(t.node(2).propose("x").status == Status::rejoining);
}

TEST_CASE("a rejoining replica does not campaign while it receives a snapshot") {
  // Found by synod-sim --quiesce --replicas 5 seed 963856: a wiped replica
  // campaigned while a snapshot transfer was under way. Its promisers had
  // compacted what it lacked, so it could not take office before the
  // transfer ended; its prepares only deposed the live leader, again at
  // each retry, and the new leaders' slots and snapshots kept the transfer
  // from ending.
  auto t = test::TestCluster::alone(2, 3, [](Config& c) { c.join_existing = true; });
  std::uint64_t nonce = 0;
  for (const Message& m : sent_by(t, 2))
    if (m.type == MessageType::rejoin_query) nonce = m.slot.value;
  REQUIRE(nonce != 0);
  for (std::uint64_t peer : {1, 3}) {  // both others answered, with state
    Message reply = msg(MessageType::rejoin_reply, peer, 2, 1, 1);
    reply.slot = Slot{nonce};
    t.node(2).step(reply);
  }
  // The leader's heartbeat reports chosen slots this replica lacks; it asks
  // the leader, whose first chunk of a snapshot starts an assembly that no
  // later chunk completes here. No campaign meanwhile.
  Message hb = msg(MessageType::heartbeat, 1, 2, 1);
  hb.commit = Slot{5};
  t.node(2).step(hb);
  std::optional<Message> request;
  for (int i = 0; i < 20 && !request; ++i) {
    t.node(2).tick();
    for (const Message& m : sent_by(t, 2))
      if (m.type == MessageType::catchup_request && m.to == NodeId{1}) request = m;
  }
  REQUIRE(request);
  Message chunk = msg(MessageType::snapshot_chunk, 1, 2);
  chunk.slot = request->slot;
  chunk.slot_end = Slot{5};
  chunk.commit = Slot{5};
  chunk.offset = 0;
  chunk.more = true;
  chunk.payload = "part";
  t.node(2).step(chunk);
  bool campaigned = false;
  for (int i = 0; i < 200; ++i) {
    t.node(2).tick();
    for (const Message& m : sent_by(t, 2)) campaigned |= m.type == MessageType::prepare;
  }
  CHECK_FALSE(campaigned);
  CHECK(t.node(2).info().role == Role::rejoining);
}

TEST_CASE("messages from strangers and for other groups are dropped") {
  MemoryStorage s;
  Replica r(config(2), s);
  Message prep = msg(MessageType::prepare, 9, 2, 1);
  r.step(prep);
  CHECK(!r.has_ready());
  prep.from = NodeId{1};
  prep.ballot = Ballot{1, NodeId{1}};
  prep.group = GroupId{7};
  r.step(prep);
  CHECK(!r.has_ready());
  prep.group = GroupId{};
  prep.ballot = Ballot{1, NodeId{3}};  // a ballot that is not the sender's
  r.step(prep);
  CHECK(!r.has_ready());
}

TEST_CASE("a leader that loses its ballot reports unknown for sent proposals") {
  auto t = test::TestCluster::alone(1, 3);
  Replica& r = t.node(1);
  r.campaign();
  sent_by(t, 1);
  Message promise;
  promise.type = MessageType::promise;
  promise.from = NodeId{2};
  promise.to = NodeId{1};
  promise.ballot = r.info().ballot;
  promise.slot = Slot{1};
  promise.slot_end = Slot{1};
  r.step(promise);
  sent_by(t, 1);
  REQUIRE(r.info().role == Role::leader);
  ProposeResult p = r.propose("maybe");
  REQUIRE(p.ok());
  sent_by(t, 1);  // the Accept left
  ProposeResult q = r.propose("never");
  REQUIRE(q.ok());
  Message rej = msg(MessageType::reject, 2, 1, 9, 3);
  r.step(rej);
  sent_by(t, 1);
  const std::vector<ProposalOutcome>& outcomes = t.at(1).outcomes;
  REQUIRE(outcomes.size() == 2);
  for (const auto& o : outcomes) {
    if (o.ticket == p.ticket) CHECK(o.outcome == Outcome::unknown);
    if (o.ticket == q.ticket) CHECK(o.outcome == Outcome::not_leader);
  }
  CHECK(r.info().role == Role::follower);
}

TEST_CASE("a replica that promises another candidate drops its own pre-vote") {
  // Found by synod-sim --quiesce seed 42718 (5 replicas): node 3's pre-vote
  // was in flight when it promised node 4's prepare; the probe replies then
  // made a quorum and node 3 campaigned above 4's ballot, its refusals
  // deposed 4 as soon as 4 led, and the peers sticky to 4 ignored 3: no
  // leader for ten election timeouts.
  auto t = test::TestCluster::alone(1, 3);
  Ballot probed{};
  for (int i = 0; i < 100 && !probed.round; ++i) {
    t.node(1).tick();
    for (const Message& m : sent_by(t, 1))
      if (m.type == MessageType::probe) probed = m.ballot;
  }
  REQUIRE(probed.round != 0);
  // Node 2 campaigns in the same round (a higher ballot: a higher node id).
  Message prep = msg(MessageType::prepare, 2, 1, probed.round);
  prep.ballot = Ballot{probed.round, NodeId{2}};
  t.node(1).step(prep);
  std::vector<Message> sent = sent_by(t, 1);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].type == MessageType::promise);
  // Node 3's yes to the old pre-vote would make a quorum with node 1's own.
  Message yes = msg(MessageType::probe_reply, 3, 1);
  yes.ballot = probed;
  t.node(1).step(yes);
  for (const Message& m : sent_by(t, 1)) CHECK(m.type != MessageType::prepare);
  CHECK(t.node(1).info().role == Role::follower);
  CHECK(t.node(1).info().promised == prep.ballot);
}
