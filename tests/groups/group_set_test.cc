// synod::GroupSet (synod/group_set.h): routing, node heartbeats, liveness
// and wake, the dirty list, and its refusals.
#include "synod/group_set.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "group_cluster.h"
#include "synod/wire.h"

using namespace synod;
using synod::test::GroupCluster;

namespace {

GroupSetOptions options(std::uint64_t self) {
  GroupSetOptions o;
  o.self = NodeId{self};
  o.heartbeat_ticks = 1;
  o.election_ticks = 10;
  o.incarnation = 7;
  return o;
}

Config group_config(std::uint64_t self, std::uint64_t group) {
  Config c;
  c.id = NodeId{self};
  c.group = GroupId{group};
  c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  return c;
}

// Every group led by node 1: it campaigns for each.
void lead_all_from_node_1(GroupCluster& c, std::size_t groups) {
  for (std::uint64_t g = 1; g <= groups; ++g) {
    c.node(1).set->find(GroupId{g})->campaign();
    c.node(1).set->touch(GroupId{g});
  }
  c.settle();
  for (std::uint64_t g = 1; g <= groups; ++g) REQUIRE(c.leader_of(g) == 1);
}

Message node_heartbeat(std::uint64_t from, std::uint64_t to, std::uint64_t incarnation) {
  Message m;
  m.type = MessageType::node_heartbeat;
  m.from = NodeId{from};
  m.to = NodeId{to};
  m.slot = Slot{incarnation};
  return m;
}

}  // namespace

TEST_CASE("GroupSetOptions refuse a missing self and an election timeout not above heartbeats") {
  std::string why;
  GroupSetOptions o = options(1);
  CHECK(o.validate(&why) == Status::ok);
  o.self = NodeId{};
  CHECK(o.validate(&why) == Status::invalid_config);
  CHECK(why.find("self") != std::string::npos);
  o = options(1);
  o.election_ticks = 1;
  CHECK(o.validate(&why) == Status::invalid_config);
  CHECK(why.find("election_ticks") != std::string::npos);
}

TEST_CASE("add refuses another node's config, group 0, other timing and a group twice") {
  GroupSet set(options(1));
  MemoryStorage s;
  std::string why;
  CHECK(set.add(group_config(2, 1), s, &why) == Status::invalid_config);
  CHECK(why.find("not this node") != std::string::npos);
  CHECK(set.add(group_config(1, 0), s, &why) == Status::invalid_config);
  Config slow = group_config(1, 1);
  slow.election_ticks = 20;
  CHECK(set.add(slow, s, &why) == Status::invalid_config);
  CHECK(why.find("election_ticks") != std::string::npos);
  Config bad = group_config(1, 1);
  bad.voters.clear();
  CHECK(set.add(bad, s, &why) == Status::invalid_config);
  CHECK(set.size() == 0);

  CHECK(set.add(group_config(1, 4), s) == Status::ok);
  CHECK(set.add(group_config(1, 2), s) == Status::ok);
  CHECK(set.add(group_config(1, 2), s, &why) == Status::invalid_argument);
  CHECK(set.size() == 2);
  CHECK(set.groups() == std::vector<GroupId>{GroupId{2}, GroupId{4}});
  REQUIRE(set.find(GroupId{2}) != nullptr);
  CHECK(set.find(GroupId{3}) == nullptr);

  CHECK(set.remove(GroupId{2}) == Status::ok);
  CHECK(set.remove(GroupId{2}) == Status::invalid_argument);
  CHECK(set.find(GroupId{2}) == nullptr);
  CHECK(set.groups() == std::vector<GroupId>{GroupId{4}});
  std::vector<GroupId> dirty;
  set.take_dirty(dirty);
  CHECK(dirty == std::vector<GroupId>{GroupId{4}});     // the removed group is not listed
  CHECK(set.add(group_config(1, 2), s) == Status::ok);  // back again
  CHECK(set.stats().groups == 2);
}

TEST_CASE("every group elects and commits, and each commits only its own commands") {
  GroupCluster c(3, 6);
  c.run(40);
  for (std::uint64_t g = 1; g <= 6; ++g) {
    std::uint64_t l = c.leader_of(g);
    REQUIRE(l != 0);
    Replica* r = c.node(l).set->find(GroupId{g});
    REQUIRE(r->propose("cmd-of-group-" + std::to_string(g)).ok());
    c.node(l).set->touch(GroupId{g});
  }
  c.settle();
  c.run(3);
  for (std::uint64_t n = 1; n <= 3; ++n)
    for (std::uint64_t g = 1; g <= 6; ++g) {
      CAPTURE(n);
      CAPTURE(g);
      std::size_t mine = 0;
      for (const Entry& e : c.node(n).storage[g].entries()) {
        if (e.value.is_noop() || e.value.is_config()) continue;
        for (std::string_view cmd : e.value.commands()) {
          CHECK(cmd == "cmd-of-group-" + std::to_string(g));
          ++mine;
        }
      }
      CHECK(mine == 1);
      CHECK(c.node(n).set->find(GroupId{g})->info().commit.value >= 2);
    }
}

TEST_CASE("the heartbeats of many groups to one peer travel as one node heartbeat") {
  constexpr std::size_t groups = 20;
  GroupCluster c(3, groups);
  lead_all_from_node_1(c, groups);
  c.sent.clear();
  // A read on each leader needs a heartbeat round in every group (and keeps
  // the groups awake).
  for (std::uint64_t g = 1; g <= groups; ++g) {
    REQUIRE(c.node(1).set->find(GroupId{g})->read().ok());
    c.node(1).set->touch(GroupId{g});
  }
  c.settle();
  std::size_t beat_messages_1_to_2 = 0, heartbeats_1_to_2 = 0, acks_2_to_1 = 0;
  for (const GroupCluster::Sent& s : c.sent) {
    CHECK(s.msg.type != MessageType::heartbeat);  // never alone
    CHECK(s.msg.type != MessageType::heartbeat_ack);
    if (s.msg.type != MessageType::node_heartbeat) continue;
    CHECK(s.msg.slot.value == c.node(s.from.value).incarnation);
    if (s.from.value == 1 && s.to.value == 2 && !s.msg.beats.empty()) {
      ++beat_messages_1_to_2;
      heartbeats_1_to_2 += s.msg.beats.size();
    }
    if (s.from.value == 2 && s.to.value == 1)
      for (const GroupBeat& b : s.msg.beats) acks_2_to_1 += b.type == MessageType::heartbeat_ack;
  }
  CHECK(beat_messages_1_to_2 == 1);
  CHECK(heartbeats_1_to_2 == groups);
  CHECK(acks_2_to_1 == groups);
  CHECK(c.node(1).set->stats().beats_coalesced >= groups * 2);
}

TEST_CASE("flush sends an empty node heartbeat to each peer every heartbeat period") {
  GroupSetOptions o = options(1);
  o.heartbeat_ticks = 3;
  GroupSet set(o);
  set.set_peers({NodeId{1}, NodeId{2}, NodeId{3}});
  std::vector<Message> out;
  set.flush(out);
  REQUIRE(out.size() == 2);  // self excluded
  CHECK(out[0].to == NodeId{2});
  CHECK(out[1].to == NodeId{3});
  CHECK(out[0].beats.empty());
  CHECK(out[0].slot.value == 7);
  for (int t = 1; t <= 6; ++t) {
    out.clear();
    set.tick();
    set.flush(out);
    CHECK(out.size() == (t % 3 == 0 ? 2u : 0u));
  }
  CHECK(set.stats().node_heartbeats_sent == 6);
}

TEST_CASE("beats beyond WireLimits' beats_max are split over several node heartbeats") {
  GroupSet set(options(1));
  set.set_peers({NodeId{2}});
  const std::size_t max = wire::WireLimits{}.beats_max;
  std::vector<Message> now;
  for (std::size_t i = 0; i < max + 3; ++i) {
    Message h;
    h.type = MessageType::heartbeat;
    h.group = GroupId{i + 1};
    h.from = NodeId{1};
    h.to = NodeId{2};
    h.ballot = Ballot{1, NodeId{1}};
    set.send(h, now);
  }
  CHECK(now.empty());
  std::vector<Message> out;
  set.flush(out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].beats.size() == max);
  CHECK(out[1].beats.size() == 3);
  CHECK(out[1].beats.back().group == GroupId{max + 3});
  std::vector<std::uint8_t> frame;
  CHECK(wire::encode(out[0], frame) == Status::ok);
}

TEST_CASE("messages for a group not here are dropped and counted") {
  GroupSet set(options(1));
  MemoryStorage s;
  REQUIRE(set.add(group_config(1, 1), s) == Status::ok);
  std::vector<GroupId> dirty;
  set.take_dirty(dirty);
  Message h;
  h.type = MessageType::heartbeat;
  h.group = GroupId{99};
  h.from = NodeId{2};
  h.to = NodeId{1};
  h.ballot = Ballot{1, NodeId{2}};
  set.step(NodeId{2}, h);
  Message nh = node_heartbeat(2, 1, 5);
  nh.beats.push_back(GroupBeat{MessageType::heartbeat, GroupId{98}, Ballot{1, NodeId{2}}});
  set.step(NodeId{2}, nh);
  CHECK(set.stats().unknown_group == 2);
  CHECK(set.stats().node_heartbeats_received == 1);
  dirty.clear();
  set.take_dirty(dirty);
  CHECK(dirty.empty());
}

TEST_CASE("node heartbeats that break a rule are counted malformed and route nothing") {
  GroupSet set(options(1));
  MemoryStorage s;
  REQUIRE(set.add(group_config(1, 1), s) == Status::ok);
  std::vector<GroupId> dirty;
  set.take_dirty(dirty);
  GroupBeat good{MessageType::heartbeat, GroupId{1}, Ballot{3, NodeId{2}}};
  std::vector<Message> bad;
  Message m = node_heartbeat(3, 1, 5);  // the frame says 3, the transport 2
  m.beats = {good};
  bad.push_back(m);
  m = node_heartbeat(2, 1, 5);
  m.group = GroupId{1};  // a node heartbeat names no group
  bad.push_back(m);
  m = node_heartbeat(2, 1, 5);
  m.beats = {good};
  m.beats[0].group = GroupId{0};
  bad.push_back(m);
  m.beats = {good};
  m.beats[0].ballot = Ballot{3, NodeId{3}};  // a heartbeat in another's ballot
  bad.push_back(m);
  m.beats = {good};
  m.beats[0].type = MessageType::accept;
  bad.push_back(m);
  m.beats = {good};
  m.beats[0].type = MessageType::heartbeat_ack;
  m.beats[0].quiesce = true;
  bad.push_back(m);
  for (const Message& x : bad) set.step(NodeId{2}, x);
  Message stray;  // a group message naming a sender other than the transport's
  stray.type = MessageType::prepare;
  stray.group = GroupId{1};
  stray.from = NodeId{3};
  stray.to = NodeId{1};
  stray.ballot = Ballot{4, NodeId{3}};
  stray.slot = Slot{1};
  set.step(NodeId{2}, stray);
  CHECK(set.stats().malformed == bad.size() + 1);
  CHECK(set.stats().node_heartbeats_received == 0);
  dirty.clear();
  set.take_dirty(dirty);
  CHECK(dirty.empty());
  CHECK(set.find(GroupId{1})->info().promised == Ballot{});

  // The same beat, well formed, reaches the group.
  m = node_heartbeat(2, 1, 5);
  m.beats = {good};
  set.step(NodeId{2}, m);
  CHECK(set.stats().malformed == bad.size() + 1);
  dirty.clear();
  set.take_dirty(dirty);
  CHECK(dirty == std::vector<GroupId>{GroupId{1}});
  CHECK(set.find(GroupId{1})->leader() == NodeId{2});
}

TEST_CASE("take_dirty lists only the groups stepped, touched or ticked, each once") {
  GroupSet set(options(1));
  std::vector<MemoryStorage> s(5);
  for (std::uint64_t g = 1; g <= 5; ++g)
    REQUIRE(set.add(group_config(1, g), s[g - 1]) == Status::ok);
  std::vector<GroupId> dirty;
  set.take_dirty(dirty);
  CHECK(dirty.size() == 5);  // new replicas may have a Ready
  dirty.clear();
  set.take_dirty(dirty);
  CHECK(dirty.empty());
  set.touch(GroupId{3});
  set.touch(GroupId{3});
  set.touch(GroupId{42});  // not here: nothing
  Message h;
  h.type = MessageType::heartbeat;
  h.group = GroupId{5};
  h.from = NodeId{2};
  h.to = NodeId{1};
  h.ballot = Ballot{1, NodeId{2}};
  set.step(NodeId{2}, h);
  set.take_dirty(dirty);
  std::sort(dirty.begin(), dirty.end());
  CHECK(dirty == std::vector<GroupId>{GroupId{3}, GroupId{5}});
}

TEST_CASE("when the node leading every group crashes, every group elects another leader") {
  constexpr std::size_t groups = 8;
  GroupCluster c(3, groups);
  lead_all_from_node_1(c, groups);
  c.run(30);  // idle groups may fall asleep
  std::size_t asleep_on_2 = c.node(2).set->stats().sleeping;
  CHECK(asleep_on_2 == groups);
  c.crash(1);
  c.run(40);
  for (std::uint64_t g = 1; g <= groups; ++g) {
    CAPTURE(g);
    std::uint64_t l = c.leader_of(g);
    CHECK((l == 2 || l == 3));
  }
  // Every follower asleep under node 1 was woken by its silence.
  CHECK(c.node(2).set->stats().wakes_leader_silent >= asleep_on_2);
}

TEST_CASE("a node that restarts is heard with its new incarnation, and its groups elect again") {
  constexpr std::size_t groups = 5;
  GroupCluster c(3, groups);
  lead_all_from_node_1(c, groups);
  c.run(30);
  std::size_t asleep_on_3 = c.node(3).set->stats().sleeping;
  CHECK(asleep_on_3 == groups);
  c.crash(1);
  c.run(2);  // back well within an election timeout
  c.restart(1);
  c.run(40);
  for (std::uint64_t g = 1; g <= groups; ++g) CHECK(c.leader_of(g) != 0);
  CHECK(c.node(3).set->stats().wakes_leader_restarted >= asleep_on_3);
  CHECK(c.node(3).set->stats().node_heartbeats_received > 0);
}

TEST_CASE("idle groups fall asleep, are not ticked, list nothing dirty and send no beats") {
  constexpr std::size_t groups = 12;
  GroupCluster c(3, groups);
  c.run(40);
  for (std::uint64_t n = 1; n <= 3; ++n) {
    CAPTURE(n);
    GroupSetStats st = c.node(n).set->stats();
    CHECK(st.sleeping == groups);
    CHECK(st.groups == groups);
  }
  c.sent.clear();
  c.pumped.clear();
  c.run(25);
  CHECK(c.pumped.empty());  // no Ready loop ran for any group
  std::size_t node_heartbeats = 0;
  for (const GroupCluster::Sent& s : c.sent) {
    CHECK(s.msg.type == MessageType::node_heartbeat);
    CHECK(s.msg.beats.empty());
    ++node_heartbeats;
  }
  // One per peer per heartbeat period (1 tick), whatever the number of groups.
  CHECK(node_heartbeats == 25 * 3 * 2);
  for (std::uint64_t n = 1; n <= 3; ++n) CHECK(c.node(n).set->stats().sleeping == groups);
}

TEST_CASE("a message for a sleeping group wakes it; the rest sleep on") {
  constexpr std::size_t groups = 6;
  GroupCluster c(3, groups);
  c.run(40);
  REQUIRE(c.node(1).set->stats().sleeping == groups);
  std::uint64_t l = c.leader_of(4);
  REQUIRE(l != 0);
  Replica* r = c.node(l).set->find(GroupId{4});
  REQUIRE(r->propose("wake up").ok());
  c.node(l).set->touch(GroupId{4});
  c.pumped.clear();
  c.settle();
  for (const auto& [node, pumped] : c.pumped)
    for (GroupId g : pumped) CHECK(g == GroupId{4});
  Slot committed = r->info().commit;
  CHECK(committed.value >= 2);
  for (std::uint64_t n = 1; n <= 3; ++n)
    for (std::uint64_t g = 1; g <= groups; ++g)
      if (g != 4) CHECK(c.node(n).set->find(GroupId{g})->quiesced());
  c.run(20);  // every member learns the commit, and group 4 falls asleep again
  for (std::uint64_t n = 1; n <= 3; ++n) {
    CAPTURE(n);
    CHECK(c.node(n).set->find(GroupId{4})->info().commit == committed);
    CHECK(c.node(n).set->stats().sleeping == groups);
  }
  CHECK(c.node(l == 1 ? 2 : 1).set->stats().wakes_needed >= 1);
}

TEST_CASE("sleepers wake when their leader's node falls silent, not before") {
  constexpr std::size_t groups = 8;
  GroupCluster c(3, groups);
  lead_all_from_node_1(c, groups);
  c.run(30);
  REQUIRE(c.node(2).set->stats().sleeping == groups);
  // Node 1 is cut off: nine ticks of silence wake nothing yet.
  c.cut(1, 2), c.cut(1, 3), c.cut(2, 1), c.cut(3, 1);
  c.run(9);
  CHECK(c.node(2).set->stats().wakes_leader_silent == 0);
  CHECK(c.node(2).set->stats().sleeping == groups);
  // At ten (election_ticks) every sleeper wakes and the groups elect.
  c.run(31);
  CHECK(c.node(2).set->stats().wakes_leader_silent == groups);
  CHECK(c.node(3).set->stats().wakes_leader_silent == groups);
  for (std::uint64_t g = 1; g <= groups; ++g) {
    std::uint64_t l = 0;
    for (std::uint64_t n = 2; n <= 3; ++n)
      if (c.node(n).set->find(GroupId{g})->role() == Role::leader) l = n;
    CHECK(l != 0);
  }
}

TEST_CASE("sleepers of a node that restarted wake at its new incarnation, before its silence") {
  constexpr std::size_t groups = 5;
  GroupCluster c(3, groups);
  lead_all_from_node_1(c, groups);
  c.run(30);
  REQUIRE(c.node(3).set->stats().sleeping == groups);
  c.crash(1);
  c.restart(1);  // no tick missed: only the incarnation tells
  c.run(1);
  CHECK(c.node(3).set->stats().wakes_leader_restarted == groups);
  CHECK(c.node(3).set->stats().wakes_leader_silent == 0);
  c.run(40);
  for (std::uint64_t g = 1; g <= groups; ++g) CHECK(c.leader_of(g) != 0);
}

TEST_CASE("a node heartbeat from a node in none of the groups wakes no sleeper") {
  constexpr std::size_t groups = 4;
  GroupCluster c(3, groups);
  lead_all_from_node_1(c, groups);
  c.run(30);
  GroupSet& follower = *c.node(2).set;
  REQUIRE(follower.stats().sleeping == groups);
  // Node 9 holds no replica of these groups: its acks name each of them.
  Message m = node_heartbeat(9, 2, 1);
  for (std::uint64_t g = 1; g <= groups; ++g)
    m.beats.push_back(GroupBeat{MessageType::heartbeat_ack, GroupId{g},
                                follower.find(GroupId{g})->info().promised, Slot{}, Slot{}, false});
  follower.step(NodeId{9}, m);
  CHECK(follower.stats().sleeping == groups);
  CHECK(follower.stats().wakes_needed == 0);
  // A group message from it, addressed to a group here, wakes nothing either.
  Message ack;
  ack.type = MessageType::heartbeat_ack;
  ack.group = GroupId{1};
  ack.from = NodeId{9};
  ack.to = NodeId{2};
  follower.step(NodeId{9}, ack);
  CHECK(follower.find(GroupId{1})->quiesced());
  c.run(3 * 10);  // no election follows
  for (std::uint64_t g = 1; g <= groups; ++g) CHECK(c.leader_of(g) == 1);
  CHECK(follower.stats().sleeping == groups);
}

TEST_CASE("a group removed and added again before a tick is ticked once per tick") {
  // Its id stays listed awake until the next tick; the new replica must
  // not be ticked once per stale listing (its election clock would race).
  GroupSet set(options(1));
  MemoryStorage s;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(set.add(group_config(1, 1), s) == Status::ok);
    REQUIRE(set.remove(GroupId{1}) == Status::ok);
  }
  REQUIRE(set.add(group_config(1, 1), s) == Status::ok);
  Replica& r = *set.find(GroupId{1});
  std::vector<GroupId> dirty;
  std::vector<Message> now;
  // Election timeouts are drawn from [election_ticks, 2 * election_ticks):
  // nine ticks campaign nothing, however many times the group was listed.
  for (int tick = 1; tick <= 9; ++tick) {
    set.tick();
    dirty.clear();
    set.take_dirty(dirty);
    while (r.has_ready()) {
      Ready rd = r.ready();
      for (const Message& m : rd.messages) {
        CAPTURE(tick);
        CHECK(m.type != MessageType::probe);
        CHECK(m.type != MessageType::prepare);
      }
      r.advance(rd);
    }
  }
}

// A late timer (tick(periods)): a leader with leases ticks every missed
// period, up to an election timeout, so its lease ends in real time; without
// leases (and on followers) it ticks once.
TEST_CASE("a late timer runs a leasing leader's clock for the periods missed; others tick once") {
  GroupCluster c(3, 1, [](Config& cfg) { cfg.lease_reads = true; });
  lead_all_from_node_1(c, 1);
  c.run(12);  // a new leader under leases waits an election timeout
  GroupSet& leader = *c.node(1).set;
  Replica& r = *leader.find(GroupId{1});
  // Keep it awake: a proposal in flight, its accepts held back.
  auto lease_read_now = [&] {
    c.reads.clear();
    if (r.quiesced()) return false;
    REQUIRE(r.read().ok());
    leader.touch(GroupId{1});
    std::vector<Message> out;
    c.pump(c.node(1));  // its Ready only: nothing delivered
    return !c.reads[1].empty();
  };
  c.cut(1, 2);
  c.cut(1, 3);
  REQUIRE(r.propose("busy").ok());
  leader.touch(GroupId{1});
  c.pump(c.node(1));
  REQUIRE(r.role() == Role::leader);
  CHECK(lease_read_now());  // the lease holds
  leader.tick(1);
  CHECK(lease_read_now());  // one period later it still holds
  std::uint64_t skipped = leader.stats().ticks_skipped;
  leader.tick(1000);  // the process was stopped for 1000 periods
  CHECK(leader.stats().ticks_skipped == skipped + 1000 - 10);
  CHECK_FALSE(lease_read_now());  // the lease ran out with real time

  // Followers tick once whatever the lateness: their election clocks run
  // slow, never fast.
  GroupSet& follower = *c.node(2).set;
  Replica& f = *follower.find(GroupId{1});
  REQUIRE_FALSE(f.quiesced());
  {
    std::uint64_t before = follower.stats().ticks_skipped;
    follower.tick(1000);
    CHECK(follower.stats().ticks_skipped == before + 999);
    CHECK(f.role() == Role::follower);
  }
}
