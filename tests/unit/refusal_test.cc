// Input no correct peer sends is dropped and counted, never acted on
// (docs/protocol.md, "Input the core refuses"): huge ballot rounds, commit
// indexes far ahead, and answers (catch-up, snapshot chunks, promises) to no
// request outstanding.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "planted_bugs.h"
#include "small_cluster.h"
#include "synod/panic.h"

using namespace synod;
using synod::test::SmallCluster;

namespace {

constexpr std::uint64_t kHuge = std::numeric_limits<std::uint64_t>::max();

SmallCluster led_by_1() {
  SmallCluster c;
  c.node(1).campaign();
  c.settle();
  REQUIRE(c.leader() == 1);
  REQUIRE(c.commit_everywhere("before"));
  return c;
}

// A message an attacker forges as `from`, with its own ballot of `round`.
Message forged(MessageType type, std::uint64_t from, std::uint64_t to, std::uint64_t round) {
  Message m;
  m.type = type;
  m.from = NodeId{from};
  m.to = NodeId{to};
  m.ballot = Ballot{round, NodeId{from}};
  return m;
}

Message forged_catchup(std::uint64_t from, std::uint64_t to, Slot slot, Slot value_slot) {
  Message m;
  m.type = MessageType::catchup_reply;
  m.from = NodeId{from};
  m.to = NodeId{to};
  m.slot = slot;
  m.commit = value_slot;
  m.entries = {Entry{value_slot, Ballot{1, NodeId{1}}, Value::of_commands({"forged"})}};
  return m;
}

bool applied_forged(const SmallCluster& c, std::size_t i) {
  for (const Entry& e : c.at(i + 1).committed)
    for (const auto& cmd : e.value.commands())
      if (cmd == "forged") return true;
  return false;
}

}  // namespace

TEST_CASE("round 2^64-1 sent to two of three replicas is refused; the cluster elects and commits") {
  SmallCluster c = led_by_1();
  // The attack of issue 11: every message that carries a sender's ballot,
  // at round 2^64-1, to both followers, as if from the other one.
  for (std::uint64_t to : {2u, 3u}) {
    std::uint64_t from = to == 2 ? 3 : 2;
    Message prepare = forged(MessageType::prepare, from, to, kHuge);
    prepare.slot = Slot{1};
    prepare.force = true;
    c.inject(prepare);
    Message accept = forged(MessageType::accept, from, to, kHuge);
    Slot next = c.node(to).info().commit.next();
    accept.entries = {Entry{next, accept.ballot, Value::of_commands({"forged"})}};
    c.inject(accept);
    c.inject(forged(MessageType::heartbeat, from, to, kHuge));
    c.inject(forged(MessageType::probe, from, to, kHuge));
    c.inject(forged(MessageType::timeout_now, from, to, kHuge));
    // Just past each bound: 2^62 + 1, and 2^32 + 1 above every round seen.
    Message above_max = forged(MessageType::prepare, from, to, (std::uint64_t{1} << 62) + 1);
    above_max.slot = Slot{1};
    c.inject(above_max);
    std::uint64_t seen = c.node(to).info().promised.round;
    Message leap = forged(MessageType::prepare, from, to, seen + (std::uint64_t{1} << 32) + 1);
    leap.slot = Slot{1};
    c.inject(leap);
    ReplicaInfo i = c.node(to).info();
    CHECK(i.refused.round == 7);
    CHECK(i.promised.round == seen);
    CHECK(!applied_forged(c, to - 1));
  }
  // The leader goes; a follower elects itself and the cluster commits.
  c.deliver = [](const Message& m) { return m.to.value != 1 && m.from.value != 1; };
  c.node(2).campaign();
  c.settle();
  REQUIRE(c.node(2).info().role == Role::leader);
  c.deliver = [](const Message&) { return true; };
  c.tick_all(3);
  CHECK(c.node(1).info().role == Role::follower);
  CHECK(c.commit_everywhere("after"));
  CHECK(c.node(2).info().ballot.round < 100);
  // A restart recovers a promise within the bounds.
  c.start(3);
  c.tick_all(3);
  CHECK(c.commit_everywhere("after restart"));
}

TEST_CASE("a round within the bounds is still taken (the bounds refuse only forgeries)") {
  SmallCluster c = led_by_1();
  std::uint64_t seen = c.node(2).info().promised.round;
  Message prepare = forged(MessageType::prepare, 3, 2, seen + (std::uint64_t{1} << 32));
  prepare.slot = Slot{1};
  prepare.force = true;
  c.inject(prepare);
  CHECK(c.node(2).info().refused.round == 0);
  CHECK(c.node(2).info().promised.round == seen + (std::uint64_t{1} << 32));
}

TEST_CASE(
    "a catch-up reply nobody asked for, or from a peer not asked, or for slots not asked, "
    "is ignored") {
  SmallCluster c = led_by_1();
  // Node 3 falls behind.
  c.deliver = [](const Message& m) { return m.to.value != 3; };
  for (int k = 0; k < 3; ++k) {
    REQUIRE(c.node(1).propose("x").ok());
    c.settle();
  }
  Slot behind = c.node(3).info().commit;
  REQUIRE(c.node(1).info().commit > behind);
  // A stranger's reply for its next slot, while it asked nothing.
  c.inject(forged_catchup(2, 3, behind.next(), behind.next()));
  CHECK(c.node(3).info().refused.unasked == 1);
  CHECK(c.node(3).info().commit == behind);

  // It hears the leader's commit and asks the leader; the real answer is
  // held back while forgeries arrive.
  std::vector<Message> held;
  c.deliver = [&](const Message& m) {
    if (m.to.value == 3 && m.type == MessageType::catchup_reply) {
      held.push_back(m);
      return false;
    }
    return true;
  };
  c.tick_all(1);
  REQUIRE(!held.empty());
  Message real = held.front();
  REQUIRE(real.from == NodeId{1});
  // From a peer not asked, for the slot asked.
  c.inject(forged_catchup(2, 3, real.slot, behind.next()));
  // From the peer asked, for a slot not asked.
  c.inject(forged_catchup(1, 3, real.slot.next(), behind.next()));
  CHECK(c.node(3).info().refused.unasked == 3);
  CHECK(c.node(3).info().commit == behind);
  // The real answer is taken.
  c.deliver = [](const Message&) { return true; };
  c.inject(real);
  c.tick_all(3);
  CHECK(c.node(3).info().commit == c.node(1).info().commit);
  CHECK(!applied_forged(c, 2));
}

TEST_CASE("the planted bug accept_catchup_unasked takes a forged catch-up reply") {
  // The same forgery as above against a learner that takes any reply: the
  // test above can fail.
  MemoryStorage s;
  Config cfg;
  cfg.id = NodeId{3};
  cfg.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  testing::plant_bug(PlantedBug::accept_catchup_unasked);
  Replica r(cfg, s);
  testing::plant_bug(PlantedBug::none);  // r keeps it; later replicas do not
  r.step(forged_catchup(2, 3, Slot{1}, Slot{1}));
  CHECK(r.info().commit == Slot{1});
}

TEST_CASE(
    "a commit index far ahead, or an accept whose commit is not below its slots, is dropped") {
  SmallCluster c = led_by_1();
  Ballot leader_ballot = c.node(1).info().ballot;
  Slot commit = c.node(2).info().commit;
  Message heartbeat = forged(MessageType::heartbeat, 1, 2, leader_ballot.round);
  heartbeat.commit = Slot{std::uint64_t{1} << 63};
  c.inject(heartbeat);
  Message accept = forged(MessageType::accept, 1, 2, leader_ballot.round);
  accept.entries = {Entry{commit.next(), leader_ballot, Value::of_commands({"forged"})}};
  accept.commit = commit.next();  // claims its own slot chosen
  c.inject(accept);
  Message reply = forged_catchup(1, 2, commit.next(), commit.next());
  reply.commit = commit;  // values above the sender's own commit
  c.inject(reply);
  ReplicaInfo i = c.node(2).info();
  CHECK(i.refused.slot == 3);
  CHECK(i.commit == commit);
  CHECK(i.last_slot == commit);
  CHECK(!applied_forged(c, 1));
  CHECK(c.commit_everywhere("still"));
}

TEST_CASE("promises and snapshot chunks answering no request are dropped and counted") {
  SmallCluster c = led_by_1();
  Message promise = forged(MessageType::promise, 3, 2, 50);
  promise.ballot = Ballot{50, NodeId{2}};
  promise.slot = Slot{1};
  c.inject(promise);
  Message chunk = forged(MessageType::snapshot_chunk, 3, 2, 0);
  chunk.ballot = Ballot{};
  chunk.slot = Slot{1};
  chunk.slot_end = Slot{100};
  chunk.payload = "image";
  c.inject(chunk);
  ReplicaInfo i = c.node(2).info();
  CHECK(i.refused.unasked == 2);
  CHECK(i.commit < Slot{100});
  CHECK(c.commit_everywhere("still"));
}

TEST_CASE("a replica whose storage holds a forged promise (round above 2^62) stops at start") {
  // Promised before rounds were bounded: it can never vote again, and says
  // so rather than wedge the cluster silently.
  MemoryStorage s;
  HardState forged_promise;
  forged_promise.promised = Ballot{kHuge, NodeId{3}};
  REQUIRE(s.save(&forged_promise, {}) == Status::ok);
  Config cfg;
  cfg.id = NodeId{1};
  cfg.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  PanicHandler before = set_panic_handler([](const char* what) { throw std::runtime_error(what); });
  std::string message;
  try {
    Replica r(cfg, s);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  set_panic_handler(before);
  CHECK(message.find("forged ballot") != std::string::npos);
}
