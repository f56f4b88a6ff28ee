// Quiescence (Config::quiesce, docs/protocol.md "Quiescence"): an idle group
// falls asleep, sends nothing while asleep, and wakes on a proposal, a
// lagging member, the host's wake() or its restarted leader's probe.
#include <doctest/doctest.h>

#include <numeric>

#include "test_cluster.h"

using namespace synod;

namespace {

constexpr std::uint32_t kElection = 10;

std::size_t total_sent(const test::TestCluster& t) {
  return std::accumulate(t.sent.begin(), t.sent.end(), std::size_t{0},
                         [](std::size_t n, const auto& kv) { return n + kv.second; });
}

bool all_asleep(test::TestCluster& t, std::initializer_list<std::uint64_t> ids) {
  for (std::uint64_t id : ids)
    if (!t.node(id).quiesced()) return false;
  return true;
}

// Three voters with quiescence on, node 1 elected and "a" committed
// everywhere, then ticked until idle: every replica asleep.
test::TestCluster sleeping_trio(bool lease_reads = false) {
  test::TestCluster t(3, [&](Config& c) {
    c.quiesce = true;
    c.election_ticks = kElection;
    c.heartbeat_ticks = 1;
    c.lease_reads = lease_reads;
  });
  t.node(1).campaign();
  t.settle();
  REQUIRE(t.leader() == 1);
  // A new leader under leases waits an election timeout before accepts.
  if (lease_reads) t.tick_all(kElection + 1);
  REQUIRE(t.commit_everywhere("a"));
  for (int i = 0; i < 10 && !all_asleep(t, {1, 2, 3}); ++i) t.tick_all(1);
  REQUIRE(all_asleep(t, {1, 2, 3}));
  return t;
}

}  // namespace

TEST_CASE("an idle group falls asleep, and ticks while asleep send nothing") {
  test::TestCluster t = sleeping_trio();
  CHECK(t.sent[MessageType::heartbeat] > 0);
  Ballot ballot = t.node(1).info().ballot;
  std::size_t before = total_sent(t);
  t.tick_all(10 * kElection);
  CHECK(total_sent(t) == before);
  CHECK(all_asleep(t, {1, 2, 3}));
  // Nobody timed the leader out.
  CHECK(t.leader() == 1);
  CHECK(t.node(1).info().ballot == ballot);
  CHECK(t.node(2).leader() == NodeId{1});
  CHECK(t.node(3).leader() == NodeId{1});
}

TEST_CASE("a proposal wakes a sleeping group, commits, and the group sleeps again") {
  test::TestCluster t = sleeping_trio();
  REQUIRE(t.node(1).propose("b").ok());
  CHECK_FALSE(t.node(1).quiesced());
  t.settle();
  // The accepts woke the followers; one round trip chose it.
  CHECK(t.at(1).has_command("b"));
  CHECK_FALSE(t.node(2).quiesced());
  t.tick_all(3);
  for (std::uint64_t id : {1, 2, 3}) CHECK(t.at(id).has_command("b"));
  for (int i = 0; i < 10 && !all_asleep(t, {1, 2, 3}); ++i) t.tick_all(1);
  CHECK(all_asleep(t, {1, 2, 3}));
  CHECK(t.leader() == 1);
}

TEST_CASE("a lagging follower keeps the group awake until the leader caught it up") {
  test::TestCluster t = sleeping_trio();
  // Node 3 is down while "b" is chosen: the leader never hears it
  // acknowledge the new commit index, so it does not sleep.
  t.stop(3);
  REQUIRE(t.node(1).propose("b").ok());
  t.settle();
  std::size_t heartbeats = t.sent[MessageType::heartbeat];
  t.tick_all(3 * kElection);
  CHECK_FALSE(t.node(1).quiesced());
  CHECK(t.sent[MessageType::heartbeat] > heartbeats);
  CHECK(t.at(1).has_command("b"));
  // Back (its storage kept, its commit index behind): it does not sleep on
  // a quiesce heartbeat that says more than it holds; it catches up first.
  t.start(3);
  for (int i = 0; i < 3 * static_cast<int>(kElection) && !all_asleep(t, {1, 2, 3}); ++i)
    t.tick_all(1);
  CHECK(t.at(3).has_command("b"));
  CHECK(all_asleep(t, {1, 2, 3}));
}

TEST_CASE("a sleeping leader wakes on an acknowledgement below its commit index") {
  test::TestCluster t = sleeping_trio();
  Slot commit = t.node(1).info().commit;
  std::size_t heartbeats = t.sent[MessageType::heartbeat];
  Message ack;
  ack.type = MessageType::heartbeat_ack;
  ack.group = t.at(1).config.group;
  ack.from = NodeId{3};
  ack.to = NodeId{1};
  ack.ballot = t.node(1).info().ballot;
  ack.commit = commit;
  // An acknowledgement of exactly its state keeps it asleep...
  t.inject(ack);
  CHECK(t.node(1).quiesced());
  CHECK(t.sent[MessageType::heartbeat] == heartbeats);
  // ... one that says the follower lacks chosen slots wakes it, and it
  // heartbeats at once.
  ack.commit = commit.prev();
  t.inject(ack);
  CHECK_FALSE(t.node(1).quiesced());
  CHECK(t.sent[MessageType::heartbeat] > heartbeats);
}

TEST_CASE("a catch-up request is answered asleep, and wakes nobody") {
  // As a node removed from the group that still catches up asks a sleeping
  // member: served from the chosen log (a follower) or the snapshot (the
  // leader), the group asleep throughout (seed 22502 of synod-sim
  // --quiesce woke the group this way).
  test::TestCluster t = sleeping_trio();
  // The asker's own node is not part of the check: what reaches it is lost.
  t.deliver = [](const Message& m) { return m.to.value != 3; };
  Message ask;
  ask.type = MessageType::catchup_request;
  ask.group = t.at(1).config.group;
  ask.from = NodeId{3};
  ask.slot = Slot{1};
  for (std::uint64_t to : {2, 1}) {
    ask.to = NodeId{to};
    std::size_t replies = t.sent[MessageType::catchup_reply];
    std::size_t chunks = t.sent[MessageType::snapshot_chunk];
    std::size_t before = total_sent(t);
    t.inject(ask);
    CHECK(t.node(to).quiesced());
    CHECK(total_sent(t) == before + 1);
    // Entries, or the snapshot's first chunk where compaction dropped them.
    CHECK(t.sent[MessageType::catchup_reply] + t.sent[MessageType::snapshot_chunk] ==
          replies + chunks + 1);
  }
  std::size_t before = total_sent(t);
  t.tick_all(10 * kElection);
  CHECK(total_sent(t) == before);
  CHECK(all_asleep(t, {1, 2, 3}));
  CHECK(t.leader() == 1);
}

TEST_CASE("followers woken after an election timeout of silence elect a new leader") {
  test::TestCluster t = sleeping_trio();
  t.stop(1);  // the leader's node dies; its sleeping followers cannot tell
  t.tick_all(5 * kElection);
  CHECK(all_asleep(t, {2, 3}));
  CHECK(t.leader() == 0);
  // The host's node liveness: node 1 silent for an election timeout.
  t.node(2).wake(kElection);
  t.node(3).wake(kElection);
  CHECK_FALSE(t.node(2).quiesced());
  CHECK(t.node(2).leader() == NodeId{});
  int ticks = 0;
  while (t.leader() == 0 && ticks < 2 * static_cast<int>(kElection)) {
    t.tick_all(1);
    ++ticks;
  }
  CHECK(t.leader() != 0);
  CHECK(ticks <= 2 * static_cast<int>(kElection));
}

TEST_CASE("a follower woken with a short silence keeps its leader") {
  test::TestCluster t = sleeping_trio();
  t.node(2).wake(kElection / 2);
  CHECK_FALSE(t.node(2).quiesced());
  CHECK(t.node(2).leader() == NodeId{1});
  // Wakes once: a second call on an awake replica changes nothing.
  t.node(2).wake(10 * kElection);
  CHECK(t.node(2).leader() == NodeId{1});
}

TEST_CASE("a probe from the restarted leader wakes its followers as leader lost") {
  test::TestCluster t = sleeping_trio();
  Ballot old = t.node(2).info().promised;
  // Node 1 restarts quickly (the host saw no long silence): a follower now,
  // it probes after its election timeout. Only node 1's clock runs: its
  // sleeping followers must not refuse it as if their leader were alive.
  t.stop(1);
  t.start(1);
  for (int i = 0; i < 3 * static_cast<int>(kElection) && t.leader() == 0; ++i) {
    t.node(1).tick();
    t.settle();
  }
  CHECK(t.leader() == 1);
  CHECK(t.node(1).info().ballot > old);
  CHECK(t.node(2).leader() == NodeId{1});
  CHECK(t.node(3).leader() == NodeId{1});
}

TEST_CASE("a probe from the leader a follower sleeps under wakes it without a leader") {
  test::TestCluster t = sleeping_trio();
  Message probe;
  probe.type = MessageType::probe;
  probe.group = t.at(2).config.group;
  probe.from = NodeId{1};
  probe.to = NodeId{2};
  probe.ballot = Ballot{t.node(2).info().promised.round + 1, NodeId{1}};
  t.node(2).step(probe);
  CHECK_FALSE(t.node(2).quiesced());
  CHECK(t.node(2).leader() == NodeId{});
  // Another replica's probe is refused asleep: the leader counts as heard.
  Message other = probe;
  other.to = NodeId{3};
  other.from = NodeId{2};
  other.ballot.node = NodeId{2};
  CHECK_FALSE(t.node(3).wakes_on(other));
  t.node(3).step(other);
  CHECK(t.node(3).quiesced());
  t.drain(3);
  std::vector<Message> sent = t.take_wire();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].type == MessageType::probe_reply);
  CHECK(sent[0].reject);
  // A prepare wakes it still following its leader (and, sticky, it ignores it).
  other.type = MessageType::prepare;
  other.slot = Slot{1};
  CHECK(t.node(3).wakes_on(other));
  t.node(3).step(other);
  CHECK_FALSE(t.node(3).quiesced());
  CHECK(t.node(3).leader() == NodeId{1});
  CHECK(t.node(3).info().promised != other.ballot);
}

TEST_CASE("a lease read on a leader just woken confirms with a heartbeat round") {
  test::TestCluster t = sleeping_trio(/*lease_reads=*/true);
  std::size_t heartbeats = t.sent[MessageType::heartbeat];
  ProposeResult r = t.node(1).read();
  REQUIRE(r.ok());
  // Its Ready, with nothing delivered yet: no answer from a lease measured
  // on a clock that stood still while it slept.
  t.drain(1);
  CHECK(t.at(1).reads.empty());
  CHECK(t.sent[MessageType::heartbeat] > heartbeats);
  t.settle();
  REQUIRE(t.at(1).reads.size() == 1);
  CHECK(t.at(1).reads.front().ticket == r.ticket);
  CHECK(t.at(1).reads.front().ok);
}

TEST_CASE("with quiesce off (the default) nothing ever sleeps") {
  test::TestCluster t(3);
  t.node(1).campaign();
  t.settle();
  REQUIRE(t.commit_everywhere("a"));
  std::size_t heartbeats = t.sent[MessageType::heartbeat];
  t.tick_all(10 * kElection);
  for (std::uint64_t id : {1, 2, 3}) CHECK_FALSE(t.node(id).quiesced());
  CHECK(t.sent[MessageType::heartbeat] >= heartbeats + 10 * kElection);
  // wake() on a replica awake does nothing.
  t.node(2).wake(10 * kElection);
  CHECK(t.node(2).leader() == NodeId{1});
}

TEST_CASE("a single voter sleeps once idle and wakes on a proposal") {
  test::TestCluster t(1, [](Config& c) { c.quiesce = true; });
  t.node(1).campaign();
  t.settle();
  REQUIRE(t.leader() == 1);
  REQUIRE(t.commit_everywhere("a"));
  t.tick_all(2);
  CHECK(t.node(1).quiesced());
  REQUIRE(t.node(1).propose("b").ok());
  CHECK_FALSE(t.node(1).quiesced());
  t.settle();
  CHECK(t.at(1).has_command("b"));
}

TEST_CASE("a learner that restarted amnesiac as a voter sleeps with its group") {
  // synod-sim --quiesce seed 734137: a learner wiped and restarted with a
  // configuration that named it a voter starts a rejoin (it may have voted
  // as a voter once); on learning it is a learner it stays amnesiac until a
  // promotion, but nothing of that is in progress. It kept the group from
  // sleeping for good, and an answer to its queries woke it for good.
  test::TestCluster t = sleeping_trio();
  auto learner_config = [](std::vector<NodeId> voters, std::vector<NodeId> learners) {
    Config c;
    c.id = NodeId{4};
    c.voters = std::move(voters);
    c.learners = std::move(learners);
    c.seed = 4;
    c.quiesce = true;
    c.election_ticks = kElection;
    c.heartbeat_ticks = 1;
    c.join_existing = true;
    return c;
  };
  t.add(learner_config({NodeId{1}, NodeId{2}, NodeId{3}}, {NodeId{4}}));
  t.start(4);
  REQUIRE(t.node(1).change_membership(MembershipOp::add_learner, NodeId{4}).ok());
  t.settle();
  REQUIRE(t.commit_everywhere("b"));
  // Wiped, and restarted configured as a voter.
  t.wipe(4);
  t.add(learner_config({NodeId{1}, NodeId{2}, NodeId{3}, NodeId{4}}, {}));
  std::vector<Message> replies;
  auto deliver_all = t.deliver;
  t.deliver = [&](const Message& m) {
    if (m.type == MessageType::rejoin_reply) replies.push_back(m);
    return true;
  };
  t.start(4);
  CHECK(t.node(4).role() == Role::rejoining);
  REQUIRE(t.commit_everywhere("c"));
  CHECK(t.node(4).info().membership.learners == std::vector<NodeId>{NodeId{4}});
  CHECK(t.node(4).role() == Role::rejoining);  // amnesiac until promoted
  for (int i = 0; i < 10 && !all_asleep(t, {1, 2, 3, 4}); ++i) t.tick_all(1);
  CHECK(all_asleep(t, {1, 2, 3, 4}));
  // A late duplicate answer keeps it asleep, and nothing is sent.
  REQUIRE_FALSE(replies.empty());
  t.deliver = deliver_all;
  std::size_t before = total_sent(t);
  t.inject(replies.front());
  CHECK(t.node(4).quiesced());
  t.tick_all(3 * kElection);
  CHECK(all_asleep(t, {1, 2, 3, 4}));
  CHECK(total_sent(t) == before);
}
