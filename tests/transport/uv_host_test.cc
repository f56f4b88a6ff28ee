// Three UvHosts over TcpTransport on one loop: they elect a leader, commit
// proposals through the wire codec, and apply the same log.
#include <doctest/doctest.h>

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
