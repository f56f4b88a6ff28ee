// Three UvHosts over TcpTransport on one loop: they elect a leader, commit
// proposals through the wire codec, and apply the same log.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "uv_test_cluster.h"

using namespace synod;
using namespace synod::test;

TEST_CASE("three libuv hosts on loopback elect a leader and apply one log") {
  UvTestCluster c;
  c.start_voters(3);
  REQUIRE(c.run_until([&] { return c.leader() != nullptr; }));
  int done = 0;
  std::vector<std::string> results;
  for (int i = 0; i < 50; ++i) {
    std::string cmd = "cmd" + std::to_string(i);
    ProposeResult r =
        c.leader()->host->propose(cmd, [&](const ProposalOutcome& o, const std::string& res) {
          CHECK(o.outcome == Outcome::committed);
          results.push_back(res);
          ++done;
        });
    REQUIRE(r.ok());
  }
  REQUIRE(c.run_until([&] { return done == 50; }));
  CHECK(results.front() == "applied cmd0");  // the apply hook's result reaches the proposer
  REQUIRE(c.run_until([&] { return c.all_applied(50); }));
  for (auto& [id, m] : c.members) CHECK(m->applied == c.at(1).applied);
  c.finish();
}

// UvHostOptions::before_apply: every replica is told each committed batch's
// commands right before they apply, one by one and in that order (a state
// machine prefetches for them there: synod-kv's key table).
TEST_CASE("before_apply hands every replica each batch just before its commands apply") {
  std::map<std::uint64_t, std::vector<std::string>> announced;  // by node, in call order
  std::map<std::uint64_t, std::size_t> batches;
  std::map<std::uint64_t, bool> out_of_order;
  UvTestCluster c(7, [&](UvMember& m, TcpTransportOptions&, UvHostOptions& h) {
    std::uint64_t id = m.id.value;
    h.before_apply = [&announced, &batches, &out_of_order, id, &m](CommandsView commands) {
      // The previous batch was applied whole before this one is announced.
      if (m.applied.size() != announced[id].size()) out_of_order[id] = true;
      announced[id].insert(announced[id].end(), commands.begin(), commands.end());
      ++batches[id];
    };
  });
  c.start_voters(3);
  REQUIRE(c.run_until([&] { return c.leader() != nullptr; }));
  int done = 0;
  for (int i = 0; i < 200; ++i) {
    REQUIRE(c.leader()
                ->host
                ->propose("cmd" + std::to_string(i),
                          [&](const ProposalOutcome&, const std::string&) { ++done; })
                .ok());
  }
  REQUIRE(c.run_until([&] { return done == 200 && c.all_applied(200); }));
  for (auto& member : c.members) {
    // Not a structured binding: CAPTURE takes it in a lambda, which clang
    // 14 refuses.
    const auto id = member.first;
    auto& m = member.second;
    CAPTURE(id);
    CHECK(announced[id] == m->applied);  // each command announced once, in apply order
    CHECK(batches[id] >= 1);
    CHECK(batches[id] <= 200);
    CHECK_FALSE(out_of_order[id]);
  }
  c.finish();
}
