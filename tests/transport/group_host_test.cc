// Three GroupHosts over TcpTransport on loopback, on one loop, with many
// groups each: every group elects, commits and applies in its own group
// only, idle groups sleep and wake for a proposal, a removed group stops, a
// GroupLog brings every group back after a restart, and balancing spreads
// the leaders.
#include "synod/group_host.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "synod/tcp_transport.h"

using namespace synod;

namespace {

constexpr std::uint64_t kNodes = 3;

struct Node {
  NodeId id{};
  std::unique_ptr<GroupLog> log;
  std::unique_ptr<TcpTransport> transport;
  std::unique_ptr<GroupHost> host;
  std::map<std::uint64_t, std::vector<std::string>> applied;      // group -> commands
  std::vector<std::pair<std::uint64_t, std::string>> host_inbox;  // from, payload
  std::vector<std::string> logs;
  std::chrono::steady_clock::time_point last_stall_line{};  // when "loop stall: " was last logged
};

struct Cluster {
  uv_loop_t loop{};
  std::vector<std::unique_ptr<Node>> nodes;  // nodes[i] is node i + 1
  std::string dir;                           // GroupLog directories; empty: in memory
  std::uint64_t balance_ms = 0;
  bool host_handlers = true;       // on_host_message set on nodes 1 and 2 (never 3)
  std::function<void()> on_apply;  // called in every group's apply hook
  bool lease_reads = false;

  Cluster() { uv_loop_init(&loop); }

  // Binds node 3 first, so the lower ids dial the ports already bound.
  void start() {
    nodes.clear();
    nodes.resize(kNodes);
    std::vector<std::string> addr(kNodes + 1);
    for (std::uint64_t id = kNodes; id >= 1; --id) {
      auto n = std::make_unique<Node>();
      n->id = NodeId{id};
      TcpTransportOptions t;
      t.self = n->id;
      t.cluster_id = 7;
      t.listen_address = "127.0.0.1:0";
      for (std::uint64_t p = 1; p <= kNodes; ++p)
        if (p != id) t.peers.push_back({NodeId{p}, p > id ? addr[p] : "127.0.0.1:1"});
      t.log = [](std::string_view) {};
      n->transport = std::make_unique<TcpTransport>(&loop, t);
      GroupHostOptions o;
      o.self = n->id;
      o.tick_ms = 5;
      o.balance_ms = balance_ms;
      Node* logged = n.get();
      o.log_line = [logged](std::string_view line) {
        logged->logs.emplace_back(line);
        if (line.starts_with("loop stall: "))
          logged->last_stall_line = std::chrono::steady_clock::now();
      };
      if (host_handlers && id != 3) {
        Node* raw = n.get();
        o.on_host_message = [raw](NodeId from, std::string_view payload) {
          raw->host_inbox.emplace_back(from.value, std::string(payload));
        };
      }
      if (!dir.empty()) {
        auto opened = GroupLog::open(dir + "/node-" + std::to_string(id), GroupLogOptions{});
        REQUIRE(opened.ok());
        n->log = std::move(opened.log);
        o.log = n->log.get();
      }
      n->host = std::make_unique<GroupHost>(&loop, *n->transport, o);
      REQUIRE(n->host->start() == Status::ok);
      addr[id] = "127.0.0.1:" + std::to_string(n->transport->bound_port());
      nodes[id - 1] = std::move(n);
    }
  }

  void add_groups(std::uint64_t first, std::uint64_t count) {
    for (auto& n : nodes)
      for (std::uint64_t g = first; g < first + count; ++g) {
        GroupOptions go;
        go.config.id = n->id;
        go.config.group = GroupId{g};
        go.config.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
        go.config.lease_reads = lease_reads;
        Node* raw = n.get();
        go.apply = [this, raw, g](Slot, std::string_view c) {
          if (on_apply) on_apply();
          raw->applied[g].emplace_back(c);
          std::string result(1, 'g');
          result += std::to_string(g);
          result += ':';
          result += c;
          return result;
        };
        std::string why;
        REQUIRE_MESSAGE(n->host->add_group(go, &why) == Status::ok, why);
      }
  }

  bool run_until(const std::function<bool()>& pred, int seconds = 20) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
  }

  // The node leading the group, as every node agrees; null otherwise.
  Node* leader_of(GroupId g) {
    Node* leader = nullptr;
    for (auto& n : nodes) {
      std::optional<ReplicaInfo> i = n->host->info(g);
      if (!i) return nullptr;
      if (i->role == Role::leader) leader = n.get();
    }
    if (!leader) return nullptr;
    for (auto& n : nodes)
      if (n->host->info(g)->leader != leader->id) return nullptr;
    return leader;
  }

  bool all_led(std::uint64_t first, std::uint64_t count) {
    for (std::uint64_t g = first; g < first + count; ++g)
      if (!leader_of(GroupId{g})) return false;
    return true;
  }

  // Proposes `command` to the group's leader and runs until it commits.
  bool commit(GroupId g, const std::string& command) {
    bool done = false, ok = false;
    if (!run_until([&] { return leader_of(g) != nullptr; })) return false;
    ProposeResult r = leader_of(g)->host->propose(
        g, command, [&](const ProposalOutcome& o, const std::string& result) {
          done = true;
          ok = o.outcome == Outcome::committed &&
               result == "g" + std::to_string(g.value) + ":" + command;
        });
    if (!r.ok()) return false;
    return run_until([&] { return done; }) && ok;
  }

  void stop() {
    for (auto& n : nodes) n->host->stop(), n->transport->stop();
    uv_run(&loop, UV_RUN_DEFAULT);
    nodes.clear();  // hosts before logs: a Node's members go in reverse order
  }

  ~Cluster() {
    if (!nodes.empty()) stop();
    uv_loop_close(&loop);
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

std::string temp_dir() {
  std::string t = (std::filesystem::temp_directory_path() / "synod-group-host-XXXXXX").string();
  REQUIRE(mkdtemp(t.data()) != nullptr);
  return t;
}

}  // namespace

TEST_CASE("group host: 50 groups on 3 nodes elect, commit and apply in their own group only") {
  constexpr std::uint64_t kGroups = 50;
  Cluster c;
  c.start();
  c.add_groups(1, kGroups);
  // Spread the first leaders: group g is campaigned by node g % 3 + 1.
  for (std::uint64_t g = 1; g <= kGroups; ++g)
    REQUIRE(c.nodes[g % kNodes]->host->campaign(GroupId{g}) == Status::ok);
  REQUIRE(c.run_until([&] { return c.all_led(1, kGroups); }));
  for (std::uint64_t g = 1; g <= kGroups; ++g)
    REQUIRE(c.commit(GroupId{g}, "set-" + std::to_string(g)));
  // Every node applied each group's one command, in that group only.
  REQUIRE(c.run_until([&] {
    for (auto& n : c.nodes)
      for (std::uint64_t g = 1; g <= kGroups; ++g)
        if (n->applied[g].size() != 1) return false;
    return true;
  }));
  for (auto& n : c.nodes) {
    CHECK(n->applied.size() == kGroups);
    for (std::uint64_t g = 1; g <= kGroups; ++g)
      CHECK(n->applied[g] == std::vector<std::string>{"set-" + std::to_string(g)});
    CHECK(n->host->stats().groups.groups == kGroups);
    CHECK(n->host->stats().bad_frames == 0);
  }

  // A removed group stops: calls are refused, the others go on.
  for (auto& n : c.nodes) REQUIRE(n->host->remove_group(GroupId{9}) == Status::ok);
  for (auto& n : c.nodes) {
    CHECK(!n->host->info(GroupId{9}));
    CHECK(n->host->propose(GroupId{9}, "x", [](auto&, auto&) {}).status ==
          Status::invalid_argument);
    CHECK(n->host->remove_group(GroupId{9}) == Status::invalid_argument);
    CHECK(n->host->stats().groups.groups == kGroups - 1);
  }
  REQUIRE(c.commit(GroupId{10}, "after-removal"));
  for (auto& n : c.nodes) CHECK(n->applied[9].size() == 1);
}

TEST_CASE("group host: idle groups fall asleep, cost no Ready loop, and wake for a proposal") {
  constexpr std::uint64_t kGroups = 50;
  Cluster c;
  c.start();
  c.add_groups(1, kGroups);
  for (std::uint64_t g = 1; g <= kGroups; ++g)
    REQUIRE(c.nodes[g % kNodes]->host->campaign(GroupId{g}) == Status::ok);
  REQUIRE(c.run_until([&] { return c.all_led(1, kGroups); }));
  for (std::uint64_t g = 1; g <= kGroups; ++g)
    REQUIRE(c.commit(GroupId{g}, "set-" + std::to_string(g)));
  // Idle groups fall asleep everywhere: the tick timer then has nothing to
  // tick, and no group's Ready loop runs.
  REQUIRE(c.run_until([&] {
    for (auto& n : c.nodes)
      if (n->host->stats().groups.sleeping != kGroups) return false;
    return true;
  }));
  // The acks of the quiesce heartbeats land just after (each confirms the
  // sleep); from then on nothing reaches a group.
  std::uint64_t settle = c.nodes[0]->host->stats().ticks + 20;
  REQUIRE(c.run_until([&] { return c.nodes[0]->host->stats().ticks >= settle; }));
  std::uint64_t runs_asleep = c.nodes[0]->host->stats().ready_runs;
  std::vector<std::uint64_t> wakes_asleep;
  for (auto& n : c.nodes) wakes_asleep.push_back(n->host->stats().groups.wakes_needed);
  std::uint64_t ticks_asleep = c.nodes[0]->host->stats().ticks;
  REQUIRE(c.run_until([&] { return c.nodes[0]->host->stats().ticks >= ticks_asleep + 40; }));
  CHECK(c.nodes[0]->host->stats().ready_runs == runs_asleep);
  // Nothing woke them: late acks of the quiesce heartbeats confirm sleep.
  for (std::size_t i = 0; i < c.nodes.size(); ++i) {
    CHECK(c.nodes[i]->host->stats().groups.wakes_needed == wakes_asleep[i]);
    CHECK(c.nodes[i]->host->stats().groups.sleeping == kGroups);
  }
  for (auto& n : c.nodes) CHECK(n->host->stats().groups.node_heartbeats_sent > 0);

  // A proposal to a sleeping group wakes it and commits.
  REQUIRE(c.commit(GroupId{7}, "wake-up"));
  REQUIRE(c.run_until([&] {
    for (auto& n : c.nodes)
      if (n->applied[7].size() != 2) return false;
    return true;
  }));
  CHECK(c.nodes[0]->applied[7].back() == "wake-up");
  CHECK(c.nodes[0]->applied[8].size() == 1);
}

TEST_CASE("group host: balancing spreads the leaders of 60 groups over 3 nodes") {
  constexpr std::uint64_t kGroups = 60;
  Cluster c;
  c.balance_ms = 100;
  c.start();
  c.add_groups(1, kGroups);
  // Node 1 campaigns in every group: it leads them all at first.
  for (std::uint64_t g = 1; g <= kGroups; ++g)
    REQUIRE(c.nodes[0]->host->campaign(GroupId{g}) == Status::ok);
  REQUIRE(c.run_until([&] { return c.all_led(1, kGroups); }));
  std::size_t most = (kGroups + kNodes - 1) / kNodes + 1;
  REQUIRE(c.run_until([&] {
    if (!c.all_led(1, kGroups)) return false;
    for (auto& n : c.nodes)
      if (n->host->leading() > most) return false;
    return true;
  }));
  CHECK(c.nodes[0]->host->stats().leaders_handed_off >= kGroups - most);
  CHECK(c.nodes[0]->host->stats().balance_rounds > 0);
  std::size_t total = 0;
  for (auto& n : c.nodes) total += n->host->leading();
  CHECK(total == kGroups);
}

TEST_CASE("group host: one GroupLog per node brings every group back after a restart") {
  constexpr std::uint64_t kGroups = 20;
  Cluster c;
  c.dir = temp_dir();
  c.start();
  c.add_groups(1, kGroups);
  for (std::uint64_t g = 1; g <= kGroups; ++g)
    REQUIRE(c.nodes[g % kNodes]->host->campaign(GroupId{g}) == Status::ok);
  REQUIRE(c.run_until([&] { return c.all_led(1, kGroups); }));
  for (std::uint64_t g = 1; g <= kGroups; ++g) REQUIRE(c.commit(GroupId{g}, "durable"));
  REQUIRE(c.run_until([&] {
    for (auto& n : c.nodes)
      for (std::uint64_t g = 1; g <= kGroups; ++g)
        if (n->applied[g].size() != 1) return false;
    return true;
  }));
  // Group commit: far fewer syncs than group writes.
  GroupHostStats before = c.nodes[0]->host->stats();
  CHECK(before.log_batches > 0);
  CHECK(before.log_writes > before.log_batches);
  c.stop();

  c.start();
  for (auto& n : c.nodes) CHECK(n->log->groups().size() == kGroups);
  c.add_groups(1, kGroups);
  // Every group recovered its chosen entry: the replicas hold it at once,
  // and the state machines get it again (they start empty: applied 0).
  for (auto& n : c.nodes)
    for (std::uint64_t g = 1; g <= kGroups; ++g)
      CHECK(n->host->info(GroupId{g})->last_slot.value >= 1);
  REQUIRE(c.run_until([&] {
    for (auto& n : c.nodes)
      for (std::uint64_t g = 1; g <= kGroups; ++g)
        if (n->applied[g].empty()) return false;
    return true;
  }));
  for (auto& n : c.nodes)
    for (std::uint64_t g = 1; g <= kGroups; ++g) CHECK(n->applied[g].front() == "durable");
  REQUIRE(c.commit(GroupId{3}, "after-restart"));
  // A removed group leaves the log once the writer's next batch is durable.
  for (auto& n : c.nodes) REQUIRE(n->host->remove_group(GroupId{4}) == Status::ok);
  REQUIRE(c.run_until([&] {
    for (auto& n : c.nodes)
      if (n->log->has_group(GroupId{4})) return false;
    return true;
  }));
  for (auto& n : c.nodes) CHECK(n->log->groups().size() == kGroups - 1);

  // A group removed and added again at once starts empty: the host waits
  // for the removal to be durable before the new replica reads the log.
  Node& n1 = *c.nodes[0];
  REQUIRE(n1.host->info(GroupId{6})->last_slot.value >= 1);
  REQUIRE(n1.host->remove_group(GroupId{6}) == Status::ok);
  GroupOptions again;
  again.config.id = n1.id;
  again.config.group = GroupId{6};
  again.config.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  REQUIRE(n1.host->add_group(again) == Status::ok);
  CHECK(n1.host->info(GroupId{6})->last_slot.value == 0);
  CHECK(n1.host->info(GroupId{6})->commit.value == 0);
}

TEST_CASE("group host: remove_group from a group's own callback is refused busy, later it works") {
  Cluster c;
  c.start();
  c.add_groups(1, 2);
  REQUIRE(c.nodes[0]->host->campaign(GroupId{1}) == Status::ok);
  REQUIRE(c.run_until([&] { return c.all_led(1, 1); }));
  Node* leader = c.leader_of(GroupId{1});
  REQUIRE(leader != nullptr);
  bool done = false;
  Status from_callback = Status::ok;
  REQUIRE(leader->host
              ->propose(GroupId{1}, "x",
                        [&](const ProposalOutcome& o, const std::string&) {
                          done = true;
                          CHECK(o.outcome == Outcome::committed);
                          // The group's Ready loop is on the stack.
                          from_callback = leader->host->remove_group(GroupId{1});
                        })
              .ok());
  REQUIRE(c.run_until([&] { return done; }));
  CHECK(from_callback == Status::busy);
  CHECK(leader->host->info(GroupId{1}).has_value());
  CHECK(leader->host->remove_group(GroupId{1}) == Status::ok);
  CHECK(!leader->host->info(GroupId{1}).has_value());
}

TEST_CASE("group host: a host destroyed while its transport runs on is no longer called") {
  Cluster c;
  c.start();
  c.add_groups(1, 3);
  REQUIRE(
      c.run_until([&] { return c.nodes[1]->host->stats().groups.node_heartbeats_received > 0; }));
  // Node 2's host goes (stopped, loop run, destroyed, as group_host.h says);
  // its transport stays up and the other nodes keep sending to it.
  Node& n2 = *c.nodes[1];
  n2.host->stop();
  uv_run(&c.loop, UV_RUN_NOWAIT);
  n2.host.reset();
  std::uint64_t received = n2.transport->stats().frames_received;
  std::uint64_t before = c.nodes[0]->host->stats().groups.node_heartbeats_sent;
  REQUIRE(c.run_until(
      [&] { return c.nodes[0]->host->stats().groups.node_heartbeats_sent > before + 20; }));
  // Frames reached node 2's transport after its host went (ASan would catch
  // a call into the destroyed host); put a host back for Cluster::stop.
  CHECK(n2.transport->stats().frames_received > received);
  GroupHostOptions o;
  o.self = n2.id;
  o.log_line = [](std::string_view) {};
  n2.host = std::make_unique<GroupHost>(&c.loop, *n2.transport, o);
}

TEST_CASE("group host: host messages reach the other node's handler, never a group") {
  Cluster c;
  c.start();
  c.add_groups(1, 3);
  REQUIRE(c.nodes[0]->host->campaign(GroupId{1}) == Status::ok);
  REQUIRE(c.run_until([&] { return c.all_led(1, 3); }));
  Node& n1 = *c.nodes[0];
  Node& n2 = *c.nodes[1];
  Node& n3 = *c.nodes[2];
  // Best effort like every peer frame: send until one arrives.
  std::string payload("cross-group \0 bytes", 20);
  REQUIRE(c.run_until([&] {
    if (n2.host_inbox.empty()) CHECK(n1.host->send_host_message(NodeId{2}, payload) == Status::ok);
    return !n2.host_inbox.empty();
  }));
  CHECK(n2.host_inbox.front() == std::make_pair(std::uint64_t{1}, payload));
  // The other way, and to a node with no handler: counted, dropped.
  REQUIRE(c.run_until([&] {
    if (n1.host_inbox.empty()) CHECK(n2.host->send_host_message(NodeId{1}, "back") == Status::ok);
    return !n1.host_inbox.empty();
  }));
  CHECK(n1.host_inbox.front() == std::make_pair(std::uint64_t{2}, std::string("back")));
  REQUIRE(c.run_until([&] {
    if (n3.host->stats().host_messages_dropped == 0)
      CHECK(n1.host->send_host_message(NodeId{3}, "nobody listens") == Status::ok);
    return n3.host->stats().host_messages_dropped > 0;
  }));
  CHECK(n3.host->stats().host_messages_received == 0);
  CHECK(n1.host->stats().host_messages_sent >= 2);
  CHECK(n2.host->stats().host_messages_received >= 1);

  // Refused at the sender: itself, nobody, a payload over the frame limit.
  CHECK(n1.host->send_host_message(NodeId{1}, "me") == Status::invalid_argument);
  CHECK(n1.host->send_host_message(NodeId{}, "none") == Status::invalid_argument);
  CHECK(n1.host->send_host_message(NodeId{9}, "stranger") == Status::unavailable);
  std::uint64_t dropped = n1.host->stats().host_messages_dropped;
  std::string huge(wire::max_frame_bytes(wire::WireLimits{}) + 1, 'x');
  CHECK(n1.host->send_host_message(NodeId{2}, huge) == Status::invalid_argument);
  CHECK(n1.host->stats().host_messages_dropped == dropped + 1);

  // No group saw any of it: the groups still commit, nothing was refused.
  for (std::uint64_t g = 1; g <= 3; ++g) REQUIRE(c.commit(GroupId{g}, "after"));
  REQUIRE(c.run_until([&] {
    for (auto& n : c.nodes)
      for (std::uint64_t g = 1; g <= 3; ++g)
        if (n->applied[g].empty()) return false;
    return true;
  }));
  for (auto& n : c.nodes) {
    CHECK(n->host->stats().bad_frames == 0);
    CHECK(n->host->stats().groups.unknown_group == 0);
    CHECK(n->host->stats().groups.malformed == 0);
    for (std::uint64_t g = 1; g <= 3; ++g)
      CHECK(n->applied[g] == std::vector<std::string>{"after"});
  }
  // After stop(): unavailable.
  n1.host->stop();
  CHECK(n1.host->send_host_message(NodeId{2}, "late") == Status::unavailable);
}

TEST_CASE(
    "group host: a loop stalled by a slow apply is counted and logged, at most once a second") {
  Cluster c;
  c.start();
  c.add_groups(1, 2);
  REQUIRE(c.nodes[0]->host->campaign(GroupId{1}) == Status::ok);
  REQUIRE(c.run_until([&] { return c.all_led(1, 2); }));
  // A busy machine may stall a loop already, and its line would hold the
  // next one back for a second: start counting once a second has passed
  // since any node's last stall line.
  auto quiet_for_a_second = [&] {
    auto now = std::chrono::steady_clock::now();
    for (auto& n : c.nodes)
      if (now - n->last_stall_line < std::chrono::milliseconds(1100)) return false;
    return true;
  };
  REQUIRE(c.run_until(quiet_for_a_second));
  std::vector<std::uint64_t> before;
  std::vector<std::size_t> logged_before;
  for (auto& n : c.nodes) {
    before.push_back(n->host->stats().loop_stalls);
    logged_before.push_back(n->logs.size());
  }
  auto started = std::chrono::steady_clock::now();
  c.on_apply = [] { std::this_thread::sleep_for(std::chrono::milliseconds(120)); };
  REQUIRE(c.commit(GroupId{1}, "slow"));
  c.on_apply = nullptr;
  REQUIRE(c.commit(GroupId{2}, "fast"));
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
          .count();
  for (std::size_t i = 0; i < c.nodes.size(); ++i) {
    Node* n = c.nodes[i].get();
    GroupHostStats s = n->host->stats();
    CHECK(s.loop_stalls > before[i]);
    CHECK(s.longest_stall_ms >= 100);
    auto stall_lines = std::count_if(
        n->logs.begin() + static_cast<std::ptrdiff_t>(logged_before[i]), n->logs.end(),
        [](const std::string& l) { return l.starts_with("loop stall: "); });
    // Three applies of 120 ms on one loop, each stalling every host: a line
    // at the first, then at most one a second.
    CHECK(stall_lines >= 1);
    CHECK(stall_lines <= seconds + 1);
  }
}

// SIGSTOP, or a loop blocked: when it runs again the poll's callbacks come
// before the late timer. A read taken then must not be answered from a lease
// that ran out meanwhile: the host ticks for the time that passed first.
TEST_CASE("group host: a read after the loop stood still longer than a lease confirms first") {
  Cluster c;
  c.lease_reads = true;
  c.start();
  c.add_groups(1, 1);
  GroupId g{1};
  REQUIRE(c.nodes[0]->host->campaign(g) == Status::ok);
  REQUIRE(c.run_until([&] { return c.all_led(1, 1); }));
  // A lease needs an election timeout of office, then a confirmed round.
  REQUIRE(c.commit(g, "a"));
  Node* leader = c.leader_of(g);
  REQUIRE(leader != nullptr);
  // Answered in the iteration that takes it (no message exchanged), or not.
  auto answered_at_once = [&] {
    bool done = false;
    REQUIRE(leader->host->read(g, [&](Status s, NodeId) { done = s == Status::ok; }).ok());
    uv_run(&c.loop, UV_RUN_NOWAIT);
    bool at_once = done;
    REQUIRE(c.run_until([&] { return done; }));
    return at_once;
  };
  bool leased = false;
  for (int i = 0; i < 50 && !leased; ++i) {
    REQUIRE(c.commit(g, "keep-awake-" + std::to_string(i)));
    leased = answered_at_once();
  }
  REQUIRE(leased);  // the lease works while the loop runs
  REQUIRE(c.commit(g, "awake"));
  // The whole process stands still for 20 election timeouts (5 ms ticks).
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  CHECK_FALSE(answered_at_once());
  CHECK(leader->host->stats().groups.ticks_skipped > 0);
}
