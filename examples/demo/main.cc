// synod-demo: three replicas in one process over the in-memory network. A
// client streams commands, the leader is killed and later restarted on the
// way, and at the end every replica must hold the same applied log.
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "synod/memory_network.h"
#include "synod/synod.h"

using namespace synod;
using Clock = std::chrono::steady_clock;

namespace {

struct Node {
  NodeId id;
  MemoryStorage storage;
  std::optional<Replica> replica;
  std::uint64_t applied_commands = 0;
  std::uint64_t log_hash = 0xcbf29ce484222325ULL;  // FNV-1a over applied commands
  std::uint64_t sum = 0;                           // the state machine: a running total
};

Config config_for(NodeId id, std::uint64_t incarnation) {
  Config c;
  c.id = id;
  c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  c.seed = id.value * 7919 + incarnation;
  c.max_inflight = 64;
  c.join_existing = incarnation > 0;
  return c;
}

class Cluster {
 public:
  Cluster() : net_(42) {
    for (std::uint64_t i = 1; i <= 3; ++i) nodes_.emplace_back().id = NodeId{i};
    for (Node& n : nodes_) n.replica.emplace(config_for(n.id, 0), n.storage);
  }

  std::vector<Node>& nodes() { return nodes_; }
  std::uint64_t committed() const { return committed_; }

  NodeId leader() const {
    for (const Node& n : nodes_)
      if (n.replica && n.replica->info().role == Role::leader) return n.id;
    return NodeId{};
  }

  void tick() {
    for (Node& n : nodes_)
      if (n.replica) n.replica->tick();
  }

  // Runs every replica's Ready loop and delivers messages until quiet.
  void pump() {
    for (bool busy = true; busy;) {
      busy = net_.in_flight() > 0;
      for (Node& n : nodes_) busy |= drain(n);
      busy |= net_.deliver_due(++now_, [&](auto& d) {
        Node& to = nodes_[d.to.value - 1];
        if (to.replica) to.replica->step(d.payload);
      }) > 0;
    }
  }

  void kill(NodeId id) {
    Node& n = nodes_[id.value - 1];
    n.replica.reset();
    n.storage.crash();  // unsynced writes are lost, as in a real crash
    net_.set_down(id, true);
    n.applied_commands = 0, n.sum = 0, n.log_hash = 0xcbf29ce484222325ULL;
  }

  void restart(NodeId id) {
    Node& n = nodes_[id.value - 1];
    n.replica.emplace(config_for(id, ++incarnation_), n.storage);
    net_.set_down(id, false);
  }

  std::uint64_t outstanding = 0;

 private:
  bool drain(Node& n) {
    bool any = false;
    while (n.replica && n.replica->has_ready()) {
      any = true;
      Ready rd = n.replica->ready();
      // The Ready contract: persist, then send, then apply.
      if (n.storage.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries) != Status::ok ||
          (rd.must_sync && n.storage.sync() != Status::ok)) {
        fmt::print(stderr, "storage failed on node {}\n", n.id.value);
        std::exit(1);
      }
      for (const Message& m : rd.messages) net_.send(now_, n.id, m.to, m);
      for (const Entry& e : rd.committed) apply(n, e);
      for (const ProposalOutcome& o : rd.outcomes) {
        --outstanding;
        if (o.outcome == Outcome::committed) ++committed_;
      }
      n.replica->advance(rd);
    }
    return any;
  }

  static void apply(Node& n, const Entry& e) {
    for (std::string_view c : e.value.commands()) {
      for (unsigned char ch : c) n.log_hash = (n.log_hash ^ ch) * 0x100000001b3ULL;
      std::uint64_t add = 0;  // "add N"; the view is not NUL-terminated: no strtoull
      if (c.size() > 4) std::from_chars(c.data() + 4, c.data() + c.size(), add);
      n.sum += add;
      ++n.applied_commands;
    }
  }

  MemoryNetwork<Message> net_;
  std::vector<Node> nodes_;
  std::uint64_t now_ = 0;
  std::uint64_t committed_ = 0;
  std::uint64_t incarnation_ = 0;
};

// Ticks until some replica leads; returns the number of ticks it took.
int elect(Cluster& c) {
  int ticks = 0;
  while (!c.leader().valid()) {
    c.tick();
    c.pump();
    ++ticks;
  }
  return ticks;
}

// Proposes `count` commands to the leader, at most `window` outstanding.
void stream(Cluster& c, std::uint64_t count, std::uint64_t& next_value) {
  const std::uint64_t window = 4096;
  std::uint64_t target = c.committed() + count;
  while (c.committed() < target) {
    NodeId l = c.leader();
    if (!l.valid()) {
      elect(c);
      continue;
    }
    Replica& r = *c.nodes()[l.value - 1].replica;
    while (c.outstanding < window && c.committed() + c.outstanding < target) {
      if (!r.propose(fmt::format("add {}", next_value)).ok()) break;
      ++next_value, ++c.outstanding;
    }
    c.pump();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 300000;
  if (total < 3) total = 3;
  Cluster c;
  std::uint64_t next_value = 1;
  fmt::print("synod demo: 3 replicas in one process, in-memory network and storage\n");
  int first = elect(c);
  fmt::print("leader elected: node {} after {} ticks\n", c.leader().value, first);

  auto t0 = Clock::now();
  stream(c, total / 3, next_value);
  NodeId old = c.leader();
  fmt::print("committed {} commands; killing leader node {}\n", c.committed(), old.value);
  c.kill(old);
  c.outstanding = 0;  // its pending proposals died with it
  int ticks = elect(c);
  fmt::print("new leader: node {} after {} ticks\n", c.leader().value, ticks);
  stream(c, total / 3, next_value);
  fmt::print("committed {} commands; restarting node {}\n", c.committed(), old.value);
  c.restart(old);
  stream(c, total - 2 * (total / 3), next_value);
  for (int i = 0; i < 50; ++i) c.tick(), c.pump();  // let the restarted node catch up
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  fmt::print("committed {} commands in {:.2f} s: {:.0f} commits/s\n", c.committed(), secs,
             c.committed() / secs);
  bool same = true;
  for (Node& n : c.nodes()) {
    ReplicaInfo i = n.replica->info();
    fmt::print("node {}: {:9} applied slots={} commands={} sum={} log hash={:016x}\n", n.id.value,
               to_string(i.role), i.applied.value, n.applied_commands, n.sum, n.log_hash);
    same &=
        n.log_hash == c.nodes()[0].log_hash && n.applied_commands == c.nodes()[0].applied_commands;
  }
  fmt::print("{}\n", same ? "all replicas applied the same log" : "REPLICAS DIFFER");
  return same ? 0 : 1;
}
