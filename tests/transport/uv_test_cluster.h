// The libuv host tests' cluster: UvHosts over TcpTransport and MemoryStorage
// on one loop, as tests/harness/test_cluster is for the pure core. Each
// member records what its host applied, logged and reported, so the tests
// assert on one shape. Nodes start highest id first: the lower id dials, so
// every dialer knows the port it dials (unknown addresses are 127.0.0.1:1,
// where nothing listens). Used by uv_host_test, uv_host_tls_test,
// uv_host_watch_test and uv_host_membership_test.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "synod/log_storage.h"
#include "synod/memory_storage.h"
#include "synod/tcp_transport.h"
#include "synod/uv_host.h"
#include "tcp_test_support.h"

namespace synod::test {

inline std::vector<NodeId> node_ids(std::initializer_list<std::uint64_t> v) {
  std::vector<NodeId> out;
  for (auto x : v) out.push_back(NodeId{x});
  return out;
}

inline bool logged_in(const std::vector<std::string>& lines, std::string_view what) {
  for (const auto& l : lines)
    if (l.find(what) != std::string::npos) return true;
  return false;
}

// One process of the cluster: its storage survives a restart (start() again).
struct UvMember {
  NodeId id;
  MemoryStorage storage;
  // Set by a Tune to persist elsewhere (e.g. HostStorage::log_writer over a
  // LogStorage the test owns); the in-memory storage above otherwise.
  std::optional<HostStorage> host_storage;
  std::unique_ptr<TcpTransport> transport;
  std::unique_ptr<UvHost> host;
  std::vector<std::string> applied;         // commands, in order (cleared at each start)
  std::vector<std::string> transport_logs;  // the transport's log lines
  std::vector<std::string> host_logs;       // the host's log lines
  std::vector<Membership> reported;         // what on_membership said, in order
  std::string address;                      // 127.0.0.1:port once started
  bool stopped = false;
};

// A durable log for a member, over a file system the test owns (1 MiB
// segments, nothing preallocated), persisted through a LogWriter: call from
// a Tune; the log must outlive the member's host.
inline std::unique_ptr<LogStorage> open_member_log(UvMember& m, FileSystem& fs) {
  LogOptions o;
  o.file_system = &fs;
  o.segment_bytes = 1 << 20;
  o.preallocation = Preallocation::none;
  auto opened = LogStorage::open("log", o);
  REQUIRE(opened.ok());
  m.host_storage = HostStorage::log_writer(*opened.storage);
  return std::move(opened.storage);
}

class UvTestCluster {
 public:
  // Adjusts a node's options before its start (after the harness filled them
  // in: ids, peers, voters, seed = id, tick_ms 5, apply and logs recorded).
  using Tune = std::function<void(UvMember&, TcpTransportOptions&, UvHostOptions&)>;

  explicit UvTestCluster(std::uint64_t cluster_id = 7, Tune tune = {})
      : cluster_id_(cluster_id), tune_(std::move(tune)) {
    uv_loop_init(&loop);
  }
  UvTestCluster(const UvTestCluster&) = delete;
  UvTestCluster& operator=(const UvTestCluster&) = delete;

  // Starts node `id` (or restarts it over the storage it kept, on the port it
  // had, once stop() and a run of the loop closed the old handles) with this configured membership;
  // its peers are the other members with the addresses known so far. Applies answer "applied
  // <command>".
  UvMember& start(std::uint64_t id, std::vector<NodeId> voters, std::vector<NodeId> learners = {}) {
    auto& slot = members[id];
    if (!slot) slot = std::make_unique<UvMember>();
    UvMember& m = *slot;
    m.id = NodeId{id};
    m.applied.clear();  // a restarted host applies its log from the start
    m.stopped = false;
    m.host.reset();  // a restart: the old host goes before the transport it used
    m.transport.reset();
    TcpTransportOptions t;
    t.self = m.id;
    t.cluster_id = cluster_id_;
    t.listen_address = m.address.empty() ? "127.0.0.1:0" : m.address;
    for (const auto* list : {&voters, &learners})
      for (NodeId p : *list)
        if (p != m.id) t.peers.push_back({p, address(p)});
    t.log = [&m](std::string_view l) { m.transport_logs.emplace_back(l); };
    UvHostOptions h;
    h.config.id = m.id;
    h.config.voters = voters;
    h.config.learners = learners;
    h.config.seed = id;
    h.tick_ms = 5;
    h.apply = [&m](Slot, std::string_view c) {
      m.applied.emplace_back(c);
      return "applied " + std::string(c);
    };
    h.log = [&m](std::string_view l) { m.host_logs.emplace_back(l); };
    h.on_membership = [this, &m](const Membership& mem) {
      m.reported.push_back(mem);
      std::vector<Peer> peers;
      for (const auto* list : {&mem.voters, &mem.learners})
        for (NodeId p : *list)
          if (p != m.id) peers.push_back({p, address(p)});
      m.transport->set_peers(peers);
    };
    if (tune_) tune_(m, t, h);
    m.transport = std::make_unique<TcpTransport>(&loop, t);
    m.host = std::make_unique<UvHost>(
        &loop, m.host_storage ? *m.host_storage : HostStorage::on_loop(m.storage), *m.transport, h);
    REQUIRE(m.host->start() == Status::ok);
    m.address = "127.0.0.1:" + std::to_string(m.transport->bound_port());
    return m;
  }

  // Voters 1..n, started highest id first.
  void start_voters(std::uint64_t n) {
    std::vector<NodeId> voters;
    for (std::uint64_t id = 1; id <= n; ++id) voters.push_back(NodeId{id});
    for (std::uint64_t id = n; id >= 1; --id) start(id, voters);
  }

  // Stops the node's host and transport (their handles close as the loop
  // runs on); the storage stays for a restart.
  void stop(std::uint64_t id) {
    UvMember& m = at(id);
    if (m.stopped) return;
    m.host->stop();
    m.transport->stop();
    m.stopped = true;
  }

  UvMember& at(std::uint64_t id) { return *members.at(id); }

  std::string address(NodeId id) const {
    auto it = members.find(id.value);
    return it == members.end() || it->second->address.empty() ? "127.0.0.1:1" : it->second->address;
  }

  // The running member that believes it leads, null when none.
  UvMember* leader() {
    for (auto& [id, m] : members)
      if (!m->stopped && m->host && m->host->info().role == Role::leader) return m.get();
    return nullptr;
  }

  // Whether every running member names `l` as its leader.
  bool all_follow(const UvMember& l) {
    for (auto& [id, m] : members)
      if (!m->stopped && m->host->info().leader != l.id) return false;
    return true;
  }

  bool run_until(const std::function<bool()>& pred, int ms = 10000) {
    return test::run_until(&loop, pred, ms);
  }

  // Proposes `n` commands (prefix + i) through the current leader, running
  // `meanwhile` after each; true once all committed (none failed).
  bool commit(int n, const std::string& prefix, const std::function<void()>& meanwhile = {}) {
    int done = 0, failed = 0;
    for (int i = 0; i < n; ++i) {
      if (!run_until([&] { return leader() != nullptr; })) return false;
      ProposeResult r = leader()->host->propose(
          prefix + std::to_string(i), [&](const ProposalOutcome& o, const std::string&) {
            (o.outcome == Outcome::committed ? done : failed)++;
          });
      if (!r.ok()) return false;
      if (meanwhile) meanwhile();
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    return run_until([&] { return done + failed == n; }) && failed == 0;
  }

  // Whether every running member applied exactly `count` commands.
  bool all_applied(std::size_t count) {
    for (auto& [id, m] : members)
      if (!m->stopped && m->applied.size() != count) return false;
    return true;
  }

  // Stops every member, runs the loop until its handles closed, and checks
  // that nothing was left open on it.
  void finish() {
    for (auto& [id, m] : members) stop(id);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }

  uv_loop_t loop{};
  std::map<std::uint64_t, std::unique_ptr<UvMember>> members;

 private:
  std::uint64_t cluster_id_;
  Tune tune_;
};

}  // namespace synod::test
