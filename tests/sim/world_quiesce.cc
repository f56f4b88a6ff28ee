// Quiescence in the simulator (--quiesce): the world plays the host's part
// (docs/protocol.md, "Quiescence"). Every running node sends every other a
// node heartbeat each heartbeat period through the faulty network (crashes,
// partitions and drops silence it as they silence any frame); a node's host
// hears a peer on any frame, and wakes a sleeping follower whose leader's
// node it has not heard for an election timeout. Once the run settled, the
// idle group must fall asleep, every member at once, and stay asleep with
// the same leaders and ballots: a replica that wakes or campaigns with no
// fault (the planted bug quiesced_follower_campaigns) fails the seed. Last,
// the sleeping leader's node crashes: the hosts' node liveness must wake its
// followers and a new leader must be elected (quiescence that hid a dead
// leader would leave the group leaderless for ever).
#include <fmt/format.h>

#include "world.h"

namespace synod::sim {

namespace {
// As config_for: the replicas' election timeout and heartbeat period.
constexpr std::uint64_t kElectionTicks = 10;
constexpr std::uint64_t kHeartbeatTicks = 2;
// Once settled, the group must be asleep within this many ticks (a snapshot
// transfer a leader still remembers keeps it awake until forgotten)...
constexpr std::uint64_t kFallAsleepTicks = 400;
// ... and then stay asleep this long: several election timeouts, so a
// follower whose election clock ran on in its sleep shows.
constexpr std::uint64_t kStayAsleepTicks = 6 * kElectionTicks;
// After the sleeping leader crashed, a new one within: the host's timeout
// (an election timeout of the slowest clock, 25 steps a tick), a drawn
// timeout, and a few pre-vote rounds refused by followers woken by a probe
// before their host woke them.
constexpr std::uint64_t kNewLeaderTicks = 10 * kElectionTicks;
}  // namespace

void World::node_heartbeats() {
  if ((now_ / kStepsPerTick) % kHeartbeatTicks != 0) return;
  for (const Node& a : nodes_) {
    if (!a.replica) continue;
    for (const Node& b : nodes_) {
      if (b.id == a.id || !b.replica) continue;
      Message m;
      m.type = MessageType::node_heartbeat;
      m.from = a.id;
      m.to = b.id;
      net_.send(now_, a.id, b.id, Packet{std::move(m)});
    }
  }
}

// Before n's tick: a sleeping follower whose leader's node is silent for an
// election timeout of n's ticks is woken with that silence.
void World::host_wakes(Node& n) {
  Replica& r = *n.replica;
  if (!r.quiesced() || r.role() == Role::leader) return;
  NodeId l = r.leader();
  if (!l.valid() || l == n.id) return;
  std::uint64_t heard = heard_at_[n.id.value - 1][l.value - 1];
  std::uint64_t silent = (now_ - heard) / n.tick_steps;
  if (silent < kElectionTicks) return;
  trace("t={} host {} wakes: leader {} silent {} ticks", now_, n.id.value, l.value, silent);
  r.wake(silent);
  process_ready(n);
}

bool World::wake_in_flight() const {
  auto wakes = [&](NodeId to, const Message& m) {
    if (m.type == MessageType::node_heartbeat) return false;  // the host's own
    for (const Node& n : nodes_)
      if (n.id == to) return n.replica && latest_.is_member(n.id) && n.replica->wakes_on(m);
    return false;
  };
  // Only what a replica sent awake: a sleeper's own message that wakes a
  // peer is a fault of the sleep rules, whenever it lands (invariant 12).
  bool found = false;
  net_.for_each_in_flight([&](const auto& d) {
    found = found || (d.payload.sent_awake && wakes(d.to, d.payload.msg));
  });
  for (const Node& n : nodes_)
    for (const Node::Staged& s : n.staged)
      if (s.taken_awake)
        for (const Message& m : s.rd.messages) found = found || wakes(m.to, m);
  return found;
}

bool World::quiet_enough() {
  std::uint64_t tick = now_ / kStepsPerTick;
  if (leader_crashed_at_ != 0) {
    for (const Node& n : nodes_)
      if (n.replica && n.replica->role() == Role::leader &&
          n.replica->info().ballot > crashed_ballot_) {
        trace("t={} new leader {} after the sleeping leader crashed", now_, n.id.value);
        return true;
      }
    if (tick >= leader_crashed_at_ + kNewLeaderTicks) {
      std::string roles;
      for (const Node& n : nodes_) roles += fmt::format(" {}", describe_life(n));
      throw CheckFailure(fmt::format(
          "liveness: the sleeping leader crashed at tick {}, no new leader {} ticks later;{}",
          leader_crashed_at_, kNewLeaderTicks, roles));
    }
    return false;
  }
  std::string state;
  bool asleep = true;
  for (const Node& n : nodes_) {
    if (!latest_.is_member(n.id)) continue;
    if (!n.replica || !n.replica->quiesced()) {
      asleep = false;
      break;
    }
    ReplicaInfo i = n.replica->info();
    state += fmt::format(" {}:{}/leader {}/promised {}.{}/c{}", n.id.value, to_string(i.role),
                         i.leader.value, i.promised.round, i.promised.node.value, i.commit.value);
  }
  if (asleep_since_ != 0) {
    // Nothing may wake a sleeping group while no fault happens.
    if (!asleep || state != asleep_state_)
      throw CheckFailure(fmt::format(
          "quiescence: the group slept since tick {} ({}) and woke at tick {} with no fault",
          asleep_since_, asleep_state_, tick));
    if (tick < asleep_since_ + kStayAsleepTicks) return false;
    for (Node& n : nodes_) {
      if (!n.replica || n.replica->role() != Role::leader) continue;
      // Only where a majority of the voters remains: the other members.
      ReplicaInfo i = n.replica->info();
      if (i.membership.voters.size() < 3 || !i.membership.is_voter(n.id)) return true;
      crashed_ballot_ = i.ballot;
      leader_crashed_at_ = tick;
      crash(n, false, 0);
      return false;
    }
    return true;
  }
  // Every member sleeps, but a message a replica sent awake may still be on
  // its way (in the network, or in a Ready the host has not finished): a follower whose election
  // clock ran out just before the quiesce heartbeat came has probed, and its probe wakes the
  // sleeping leader, as it must (the leader cannot tell it from the probe of a follower that lost
  // the quiesce heartbeat and stays awake). The group counts as asleep once nothing sent awake and
  // still in flight would wake a member; from then on any wake is a failure (synod-sim --quiesce
  // --replicas 5 seed 925407, where a follower's clock ran four times its leader's).
  if (asleep && wake_in_flight()) asleep = false;
  if (asleep) {
    asleep_since_ = tick;
    asleep_state_ = std::move(state);
    trace("t={} quiesced:{}", now_, asleep_state_);
    return false;
  }
  if (tick >= settled_at_ + kFallAsleepTicks) {
    std::string roles;
    for (const Node& n : nodes_) roles += fmt::format(" {}", describe_life(n));
    throw CheckFailure(fmt::format("quiescence: settled at tick {}, not asleep {} ticks later;{}",
                                   settled_at_, kFallAsleepTicks, roles));
  }
  return false;
}

}  // namespace synod::sim
