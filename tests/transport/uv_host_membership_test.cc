// Membership through the libuv host: four UvHosts over TcpTransport on one
// loop. A fourth process joins as a learner, is added as a voter and promoted,
// takes leadership by transfer, then removes itself; on_membership drives each
// transport's peer set as synod-kv does.
#include <doctest/doctest.h>

#include <string>

#include "uv_test_cluster.h"

using namespace synod;
using namespace synod::test;

TEST_CASE("a learner joins, is promoted, leads by transfer and removes itself through UvHost") {
  UvTestCluster c(7, [](UvMember&, TcpTransportOptions&, UvHostOptions& h) {
    h.config.promote_lag = 8;
    h.config.alpha = 16;
  });
  // Node 4 starts as a process joining a running cluster: the current voters
  // and itself as a learner.
  c.start(4, node_ids({1, 2, 3}), node_ids({4}));
  for (std::uint64_t id = 3; id >= 1; --id) c.start(id, node_ids({1, 2, 3}));
  for (auto& [id, m] : c.members) {
    REQUIRE(m->reported.size() == 1);  // the configured membership, at start
    CHECK(m->reported[0].voters.size() == 3);
  }
  REQUIRE(c.run_until([&] { return c.leader() != nullptr; }));
  REQUIRE(c.commit(20, "a"));
  CHECK(c.at(4).applied.empty());  // not a member yet: nobody sends it the log

  UvMember* leader = c.leader();
  UvMember* follower = nullptr;
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
  REQUIRE(c.run_until([&] { return committed == 1; }));
  CHECK(result.empty());  // a configuration is not a command: no apply result

  // The leader promotes the caught-up learner by itself; every host hears of
  // it through on_membership and connects to node 4.
  REQUIRE(c.run_until([&] {
    for (auto& [id, m] : c.members)
      if (!m->reported.back().is_voter(NodeId{4})) return false;
    return true;
  }));
  for (auto& [id, m] : c.members) CHECK(m->host->info().membership == m->reported.back());
  REQUIRE(c.commit(20, "b"));
  REQUIRE(c.run_until([&] {
    for (auto& [id, m] : c.members)
      if (m->applied.size() != 40) return false;
    return true;
  }));
  // Configurations never reach apply: every host applied exactly the commands.
  for (auto& [id, m] : c.members) CHECK(m->applied == c.at(1).applied);
  CHECK(c.at(1).applied.front() == "a0");

  // Leadership transfer to the new voter.
  leader = c.leader();
  if (leader->id != NodeId{4}) {
    CHECK(leader->host->transfer_leadership(NodeId{9}) == Status::unknown_peer);
    REQUIRE(leader->host->transfer_leadership(NodeId{4}) == Status::ok);
    REQUIRE(c.run_until([&] { return c.leader() == &c.at(4); }));
  }

  // The leader removes itself: the change commits, it hands over and steps down.
  int removed = 0;
  REQUIRE(c.at(4)
              .host
              ->change_membership(MembershipOp::remove, NodeId{4},
                                  [&](const ProposalOutcome& o, const std::string&) {
                                    CHECK(o.outcome == Outcome::committed);
                                    ++removed;
                                  })
              .ok());
  REQUIRE(c.run_until([&] {
    UvMember* l = c.leader();
    return removed == 1 && l != nullptr && l->id != NodeId{4};
  }));
  for (std::uint64_t id = 1; id <= 3; ++id) {
    INFO("node ", id);
    REQUIRE(c.run_until([&] { return !c.at(id).reported.back().is_member(NodeId{4}); }));
    CHECK_FALSE(c.at(id).transport->connected(NodeId{4}));
  }
  REQUIRE(c.commit(10, "c"));
  c.finish();
}
