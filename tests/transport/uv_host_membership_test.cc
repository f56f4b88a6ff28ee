// Membership through the libuv host: four UvHosts over TcpTransport on one
// loop. A fourth process joins as a learner, is added as a voter and promoted,
// takes leadership by transfer, then removes itself; on_membership drives each
// transport's peer set as synod-kv does.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "synod/memory_storage.h"
#include "synod/tcp_transport.h"
#include "synod/uv_host.h"

using namespace synod;

namespace {

struct Member {
  NodeId id;
  MemoryStorage storage;
  std::unique_ptr<TcpTransport> transport;
  std::unique_ptr<UvHost> host;
  std::vector<std::string> applied;
  std::vector<Membership> reported;  // what on_membership said, in order
};

bool run_until(uv_loop_t* loop, const std::function<bool()>& pred, int seconds = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    uv_run(loop, UV_RUN_ONCE);
  }
  return true;
}

class Cluster {
 public:
  Cluster() { uv_loop_init(&loop); }

  // Node `id` with the given configured membership; the highest id first, so
  // every dialer (the lower id dials) knows the port it dials.
  void add(std::uint64_t id, std::vector<NodeId> voters, std::vector<NodeId> learners) {
    auto m = std::make_unique<Member>();
    m->id = NodeId{id};
    TcpTransportOptions t;
    t.self = m->id;
    t.cluster_id = 7;
    t.listen_address = "127.0.0.1:0";
    t.log = [](std::string_view) {};
    for (NodeId v : voters)
      if (v != m->id) t.peers.push_back({v, address(v)});
    m->transport = std::make_unique<TcpTransport>(&loop, t);
    UvHostOptions h;
    h.config.id = m->id;
    h.config.voters = voters;
    h.config.learners = learners;
    h.config.seed = id;
    h.config.promote_lag = 8;
    h.config.alpha = 16;
    h.tick_ms = 5;
    h.log = [](std::string_view) {};
    Member* raw = m.get();
    h.apply = [raw](Slot, const std::string& c) {
      raw->applied.push_back(c);
      return "applied " + c;
    };
    h.on_membership = [this, raw](const Membership& mem) {
      raw->reported.push_back(mem);
      std::vector<Peer> peers;
      for (const auto* ids : {&mem.voters, &mem.learners})
        for (NodeId p : *ids)
          if (p != raw->id) peers.push_back({p, address(p)});
      raw->transport->set_peers(peers);
    };
    m->host = std::make_unique<UvHost>(&loop, m->storage, *m->transport, h);
    REQUIRE(m->host->start() == Status::ok);
    addresses[id] = "127.0.0.1:" + std::to_string(m->transport->bound_port());
    members[id] = std::move(m);
  }

  std::string address(NodeId id) {
    auto it = addresses.find(id.value);
    return it == addresses.end() ? "127.0.0.1:1" : it->second;
  }

  Member* leader() {
    for (auto& [id, m] : members)
      if (m->host->info().role == Role::leader) return m.get();
    return nullptr;
  }

  Member& operator[](std::uint64_t id) { return *members.at(id); }

  void stop() {
    for (auto& [id, m] : members) m->host->stop(), m->transport->stop();
    uv_run(&loop, UV_RUN_DEFAULT);
  }

  uv_loop_t loop;
  std::map<std::uint64_t, std::string> addresses;
  std::map<std::uint64_t, std::unique_ptr<Member>> members;
};

std::vector<NodeId> ids(std::initializer_list<std::uint64_t> v) {
  std::vector<NodeId> out;
  for (auto x : v) out.push_back(NodeId{x});
  return out;
}

// Proposes n commands through the current leader; true once all committed.
bool write(Cluster& c, const std::string& prefix, int n) {
  int done = 0, failed = 0;
  for (int i = 0; i < n; ++i) {
    if (!run_until(&c.loop, [&] { return c.leader() != nullptr; })) return false;
    ProposeResult r = c.leader()->host->propose(
        prefix + std::to_string(i), [&](const ProposalOutcome& o, const std::string&) {
          (o.outcome == Outcome::committed ? done : failed)++;
        });
    if (!r.ok()) return false;
  }
  return run_until(&c.loop, [&] { return done + failed == n; }) && failed == 0;
}

}  // namespace

TEST_CASE("a learner joins, is promoted, leads by transfer and removes itself through UvHost") {
  Cluster c;
  // Node 4 starts as a process joining a running cluster: the current voters
  // and itself as a learner.
  c.add(4, ids({1, 2, 3}), ids({4}));
  for (std::uint64_t id = 3; id >= 1; --id) c.add(id, ids({1, 2, 3}), {});
  for (auto& [id, m] : c.members) {
    REQUIRE(m->reported.size() == 1);  // the configured membership, at start
    CHECK(m->reported[0].voters.size() == 3);
  }
  REQUIRE(run_until(&c.loop, [&] { return c.leader() != nullptr; }));
  REQUIRE(write(c, "a", 20));
  CHECK(c[4].applied.empty());  // not a member yet: nobody sends it the log

  Member* leader = c.leader();
  Member* follower = nullptr;
  for (auto& [id, m] : c.members)
    if (m.get() != leader && id != 4) follower = m.get();
  CHECK(follower->host->change_membership(MembershipOp::add_voter, NodeId{4}, {}).status ==
        Status::not_leader);
  CHECK(leader->host->change_membership(MembershipOp::add_voter, NodeId{2}, {}).status ==
        Status::invalid_argument);

  int committed = 0;
  std::string result = "unset";
  ProposeResult r = leader->host->change_membership(
      MembershipOp::add_voter, NodeId{4}, [&](const ProposalOutcome& o, const std::string& res) {
        CHECK(o.outcome == Outcome::committed);
        result = res;
        ++committed;
      });
  REQUIRE(r.ok());
  // One change at a time.
  CHECK(leader->host->change_membership(MembershipOp::add_learner, NodeId{5}, {}).status ==
        Status::busy);
  REQUIRE(run_until(&c.loop, [&] { return committed == 1; }));
  CHECK(result.empty());  // a configuration is not a command: no apply result

  // The leader promotes the caught-up learner by itself; every host hears of
  // it through on_membership and connects to node 4.
  REQUIRE(run_until(&c.loop, [&] {
    for (auto& [id, m] : c.members)
      if (!m->reported.back().is_voter(NodeId{4})) return false;
    return true;
  }));
  for (auto& [id, m] : c.members) CHECK(m->host->info().membership == m->reported.back());
  REQUIRE(write(c, "b", 20));
  REQUIRE(run_until(&c.loop, [&] {
    for (auto& [id, m] : c.members)
      if (m->applied.size() != 40) return false;
    return true;
  }));
  // Configurations never reach apply: every host applied exactly the commands.
  for (auto& [id, m] : c.members) CHECK(m->applied == c[1].applied);
  CHECK(c[1].applied.front() == "a0");

  // Leadership transfer to the new voter.
  leader = c.leader();
  if (leader->id != NodeId{4}) {
    CHECK(leader->host->transfer_leadership(NodeId{9}) == Status::unknown_peer);
    REQUIRE(leader->host->transfer_leadership(NodeId{4}) == Status::ok);
    REQUIRE(run_until(&c.loop, [&] { return c.leader() == &c[4]; }));
  }

  // The leader removes itself: the change commits, it hands over and steps down.
  int removed = 0;
  REQUIRE(c[4].host
              ->change_membership(MembershipOp::remove, NodeId{4},
                                  [&](const ProposalOutcome& o, const std::string&) {
                                    CHECK(o.outcome == Outcome::committed);
                                    ++removed;
                                  })
              .ok());
  REQUIRE(run_until(&c.loop, [&] {
    Member* l = c.leader();
    return removed == 1 && l != nullptr && l->id != NodeId{4};
  }));
  for (std::uint64_t id = 1; id <= 3; ++id) {
    INFO("node ", id);
    REQUIRE(run_until(&c.loop, [&] { return !c[id].reported.back().is_member(NodeId{4}); }));
    CHECK_FALSE(c[id].transport->connected(NodeId{4}));
  }
  REQUIRE(write(c, "c", 10));
  c.stop();
  CHECK(uv_loop_close(&c.loop) == 0);
}
