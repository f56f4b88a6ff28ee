// The Replica's contract as a host sees it, one behaviour per test.
#include "synod/replica.h"

#include <doctest/doctest.h>

#include <optional>

#include "synod/memory_storage.h"

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

// Runs the host side of the Ready contract; returns the messages to send.
std::vector<Message> drain(Replica& r, MemoryStorage& s, std::vector<Entry>* applied = nullptr,
                           std::vector<ProposalOutcome>* outcomes = nullptr) {
  std::vector<Message> out;
  while (r.has_ready()) {
    Ready rd = r.ready();
    REQUIRE(s.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries) == Status::ok);
    if (rd.must_sync) REQUIRE(s.sync() == Status::ok);
    out.insert(out.end(), rd.messages.begin(), rd.messages.end());
    if (applied) applied->insert(applied->end(), rd.committed.begin(), rd.committed.end());
    if (outcomes) outcomes->insert(outcomes->end(), rd.outcomes.begin(), rd.outcomes.end());
    r.advance(rd);
  }
  return out;
}

}  // namespace

TEST_CASE("a single-replica cluster elects itself and commits a proposal") {
  MemoryStorage s;
  Replica r(config(1, 1), s);
  for (int i = 0; i < 25 && r.info().role != Role::leader; ++i) r.tick(), drain(r, s);
  REQUIRE(r.info().role == Role::leader);
  ProposeResult p = r.propose("hello");
  REQUIRE(p.ok());
  std::vector<Entry> applied;
  std::vector<ProposalOutcome> outcomes;
  drain(r, s, &applied, &outcomes);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].ticket == p.ticket);
  CHECK(outcomes[0].outcome == Outcome::committed);
  REQUIRE(!applied.empty());
  CHECK(applied.back().value.commands() == std::vector<std::string>{"hello"});
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
  MemoryStorage s;
  Replica r(config(2), s);
  Message hb = msg(MessageType::heartbeat, 1, 2, 1);
  r.step(hb);
  drain(r, s);
  CHECK(r.propose("x").leader_hint == NodeId{1});
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
  MemoryStorage s;
  {
    Replica r(config(2), s);
    Message prep = msg(MessageType::prepare, 3, 2, 5);
    r.step(prep);
    drain(r, s);
  }
  s.crash();
  Replica r(config(2), s);
  CHECK(r.info().promised == Ballot{5, NodeId{3}});
  Message acc = msg(MessageType::accept, 1, 2, 4);
  acc.entries = {Entry{Slot{1}, acc.ballot, Value::of_commands({"old"})}};
  r.step(acc);
  auto msgs = drain(r, s);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].type == MessageType::reject);
  CHECK(msgs[0].ballot == Ballot{5, NodeId{3}});
  CHECK(s.entries().empty());
}

TEST_CASE("a replica whose storage was wiped never answers a prepare while rejoining") {
  MemoryStorage s;
  Config c = config(2);
  c.join_existing = true;
  Replica r(c, s);
  CHECK(r.info().role == Role::rejoining);
  drain(r, s);
  CHECK(s.hard_state().voting == false);
  Message prep = msg(MessageType::prepare, 1, 2, 1);
  r.step(prep);
  for (const Message& m : drain(r, s)) CHECK(m.type != MessageType::promise);
  CHECK(r.propose("x").status == Status::rejoining);
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
  MemoryStorage s;
  Replica r(config(1), s);
  r.campaign();
  auto msgs = drain(r, s);
  Message promise;
  promise.type = MessageType::promise;
  promise.from = NodeId{2};
  promise.to = NodeId{1};
  promise.ballot = r.info().ballot;
  promise.slot = Slot{1};
  promise.slot_end = Slot{1};
  r.step(promise);
  drain(r, s);
  REQUIRE(r.info().role == Role::leader);
  ProposeResult p = r.propose("maybe");
  REQUIRE(p.ok());
  drain(r, s);  // the Accept left
  ProposeResult q = r.propose("never");
  REQUIRE(q.ok());
  Message rej = msg(MessageType::reject, 2, 1, 9, 3);
  r.step(rej);
  std::vector<ProposalOutcome> outcomes;
  drain(r, s, nullptr, &outcomes);
  REQUIRE(outcomes.size() == 2);
  for (const auto& o : outcomes) {
    if (o.ticket == p.ticket) CHECK(o.outcome == Outcome::unknown);
    if (o.ticket == q.ticket) CHECK(o.outcome == Outcome::not_leader);
  }
  CHECK(r.info().role == Role::follower);
}
