// UvHost over the LogWriter: one fdatasync per batch of commands on the
// leader, not two; with follower_syncs_on_loop, followers sync on their
// loop and the leader never does; with sole_voter_syncs_on_loop, a leader
// that is the only voter does, and one with other voters still never does.
// The Ready that only moves the commit index (after the followers'
// acknowledgements) needs no sync (must_sync false) and rides on the next
// batch's; it used to cost an fdatasync of its own, in front of that batch's
// entries (docs/benchmarks.md, "synod-kv", fifth round).
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>

#include "synod/fault_file_system.h"
#include "synod/log_storage.h"
#include "uv_test_cluster.h"

using namespace synod;
using namespace synod::test;

namespace {

struct DurableNode {
  FaultFileSystem fs;
  std::unique_ptr<LogStorage> log;
};

struct SyncOptions {
  std::uint64_t voters = 3;
  bool follower_syncs_on_loop = false;
  bool sole_voter_syncs_on_loop = false;
};

// Commits kCommands one at a time on durable logs; returns the leader's
// log syncs for them, and each member's UvHostStats::synced_on_loop with the
// leader's id.
constexpr int kCommands = 20;

std::uint64_t commit_one_by_one(SyncOptions o,
                                std::map<std::uint64_t, std::uint64_t>* synced_on_loop,
                                std::uint64_t* leader_id = nullptr) {
  std::map<std::uint64_t, std::unique_ptr<DurableNode>> nodes;
  UvTestCluster c(7, [&](UvMember& m, TcpTransportOptions&, UvHostOptions& h) {
    h.follower_syncs_on_loop = o.follower_syncs_on_loop;
    h.sole_voter_syncs_on_loop = o.sole_voter_syncs_on_loop;
    // Leadership must hold for the whole count: a new ballot is syncs of its
    // own. 50 ms (the default 10 ticks) is within a loaded machine's stalls.
    h.config.election_ticks = 60;
    auto& n = nodes[m.id.value];
    n = std::make_unique<DurableNode>();
    n->log = open_member_log(m, n->fs);
  });
  c.start_voters(o.voters);
  REQUIRE(c.run_until([&] { return c.leader() != nullptr; }));
  REQUIRE(c.commit(3, "warm"));
  UvMember* leader = c.leader();
  LogStorage& log = *nodes.at(leader->id.value)->log;
  const std::uint64_t syncs = log.stats().syncs;
  for (int i = 0; i < kCommands; ++i) {
    bool answered = false;
    REQUIRE(leader->host
                ->propose("one " + std::to_string(i),
                          [&](const ProposalOutcome& o, const std::string&) {
                            CHECK(o.outcome == Outcome::committed);
                            answered = true;
                          })
                .ok());
    REQUIRE(c.run_until([&] { return answered; }));
  }
  REQUIRE(c.leader() == leader);
  const std::uint64_t used = log.stats().syncs - syncs;
  // Every replica applied every command, in the leader's order.
  REQUIRE(c.run_until([&] { return c.all_applied(3 + kCommands); }));
  CHECK(leader->applied.back() == "one " + std::to_string(kCommands - 1));
  for (auto& [id, m] : c.members) (*synced_on_loop)[id] = m->host->stats().synced_on_loop;
  if (leader_id) *leader_id = leader->id.value;
  c.finish();
  return used;
}

}  // namespace

TEST_CASE("the leader syncs once per command proposed alone, not once more for its commit") {
  std::map<std::uint64_t, std::uint64_t> on_loop;
  const std::uint64_t used = commit_one_by_one({}, &on_loop);
  // One sync for each command's entry; the commit records went with them.
  // Syncing those too made it about two per command.
  INFO("leader syncs for ", kCommands, " commands: ", used);
  CHECK(used >= kCommands);
  CHECK(used <= kCommands + 2);
  for (auto& [id, n] : on_loop) CHECK(n == 0);  // off: nobody syncs on the loop
}

TEST_CASE("follower_syncs_on_loop: followers sync their batches on the loop, the leader never") {
  std::map<std::uint64_t, std::uint64_t> on_loop;
  std::uint64_t leader = 0;
  commit_one_by_one({.follower_syncs_on_loop = true}, &on_loop, &leader);
  CHECK(on_loop.at(leader) == 0);
  int followers = 0;
  for (auto& [id, n] : on_loop) {
    // Each follower synced (nearly) every command's accept itself; the
    // leader none.
    if (n > 0) ++followers;
    if (n > 0) CHECK(n >= kCommands / 2);
  }
  CHECK(followers == 2);
}

TEST_CASE("sole_voter_syncs_on_loop: a one-voter leader syncs every batch on its loop") {
  std::map<std::uint64_t, std::uint64_t> on_loop;
  const std::uint64_t used =
      commit_one_by_one({.voters = 1, .sole_voter_syncs_on_loop = true}, &on_loop);
  REQUIRE(on_loop.size() == 1);
  // Every command's batch (and the warm-up's) synced on the loop, one sync
  // each, none left to the writer thread.
  INFO("syncs ", used, ", on the loop ", on_loop.begin()->second);
  CHECK(on_loop.begin()->second >= kCommands);
  CHECK(used >= kCommands);
  CHECK(used <= kCommands + 2);
  // Off, the same leader leaves every sync to its writer.
  on_loop.clear();
  commit_one_by_one({.voters = 1}, &on_loop);
  CHECK(on_loop.begin()->second == 0);
}

TEST_CASE("sole_voter_syncs_on_loop: a leader with other voters keeps its writer") {
  std::map<std::uint64_t, std::uint64_t> on_loop;
  std::uint64_t leader = 0;
  commit_one_by_one({.voters = 3, .follower_syncs_on_loop = true, .sole_voter_syncs_on_loop = true},
                    &on_loop, &leader);
  CHECK(on_loop.at(leader) == 0);
  for (auto& [id, n] : on_loop)
    if (id != leader) CHECK(n >= kCommands / 2);  // the followers synced on their loops
}

TEST_CASE("sole_voter_syncs_on_loop: a learner still gets the log, and a second voter ends it") {
  std::map<std::uint64_t, std::unique_ptr<DurableNode>> nodes;
  UvTestCluster c(7, [&](UvMember& m, TcpTransportOptions&, UvHostOptions& h) {
    h.follower_syncs_on_loop = true;
    h.sole_voter_syncs_on_loop = true;
    h.config.election_ticks = 60;
    h.config.promote_lag = 8;
    h.config.alpha = 16;
    auto& n = nodes[m.id.value];
    n = std::make_unique<DurableNode>();
    n->log = open_member_log(m, n->fs);
  });
  c.start(2, node_ids({1}), node_ids({2}));
  c.start(1, node_ids({1}), node_ids({2}));
  REQUIRE(c.run_until([&] { return c.leader() == &c.at(1); }));
  REQUIRE(c.commit(kCommands, "alone "));
  // The leader's accepts reach the learner although it syncs on its loop.
  REQUIRE(c.run_until([&] { return c.all_applied(kCommands); }));
  CHECK(c.at(2).applied == c.at(1).applied);
  // Proposed back to back, some commands may share a batch.
  CHECK(c.at(1).host->stats().synced_on_loop >= kCommands / 2);

  bool added = false;
  REQUIRE(c.at(1)
              .host
              ->change_membership(MembershipOp::promote, NodeId{2},
                                  [&](const ProposalOutcome& o, const std::string&) {
                                    CHECK(o.outcome == Outcome::committed);
                                    added = true;
                                  })
              .ok());
  REQUIRE(c.run_until([&] {
    return added && c.at(1).reported.back().is_voter(NodeId{2}) &&
           c.at(2).reported.back().is_voter(NodeId{2});
  }));
  // Two voters: the leader's batches go to its writer again.
  REQUIRE(c.leader() == &c.at(1));
  const std::uint64_t before = c.at(1).host->stats().synced_on_loop;
  REQUIRE(c.commit(kCommands, "pair "));
  REQUIRE(c.run_until([&] { return c.all_applied(2 * kCommands); }));
  CHECK(c.at(2).applied == c.at(1).applied);
  CHECK(c.at(1).host->stats().synced_on_loop == before);
  c.finish();
}
