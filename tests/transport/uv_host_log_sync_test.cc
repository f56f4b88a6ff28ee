// UvHost over the LogWriter: one fdatasync per batch of commands on the
// leader, not two; with follower_syncs_on_loop, followers sync on their
// loop and the leader never does. The Ready that only moves the commit index (after the
// followers' acknowledgements) needs no sync (must_sync false) and rides on
// the next batch's; it used to cost an fdatasync of its own, in front of
// that batch's entries (docs/benchmarks.md, "synod-kv", fifth round).
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

// Commits kCommands one at a time on durable logs; returns the leader's
// log syncs for them.
constexpr int kCommands = 20;

std::uint64_t commit_one_by_one(bool follower_syncs_on_loop,
                                std::map<std::uint64_t, std::uint64_t>* synced_on_loop) {
  std::map<std::uint64_t, std::unique_ptr<DurableNode>> nodes;
  UvTestCluster c(7, [&](UvMember& m, TcpTransportOptions&, UvHostOptions& h) {
    h.follower_syncs_on_loop = follower_syncs_on_loop;
    // Leadership must hold for the whole count: a new ballot is syncs of its
    // own. 50 ms (the default 10 ticks) is within a loaded machine's stalls.
    h.config.election_ticks = 60;
    auto& n = nodes[m.id.value];
    n = std::make_unique<DurableNode>();
    n->log = open_member_log(m, n->fs);
  });
  c.start_voters(3);
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
  CHECK(synced_on_loop->at(leader->id.value) == 0);  // a leader always uses its writer
  c.finish();
  return used;
}

}  // namespace

TEST_CASE("the leader syncs once per command proposed alone, not once more for its commit") {
  std::map<std::uint64_t, std::uint64_t> on_loop;
  const std::uint64_t used = commit_one_by_one(false, &on_loop);
  // One sync for each command's entry; the commit records went with them.
  // Syncing those too made it about two per command.
  INFO("leader syncs for ", kCommands, " commands: ", used);
  CHECK(used >= kCommands);
  CHECK(used <= kCommands + 2);
  for (auto& [id, n] : on_loop) CHECK(n == 0);  // off: nobody syncs on the loop
}

TEST_CASE("follower_syncs_on_loop: followers sync their batches on the loop, the leader never") {
  std::map<std::uint64_t, std::uint64_t> on_loop;
  commit_one_by_one(true, &on_loop);
  int followers = 0;
  for (auto& [id, n] : on_loop) {
    // Each follower synced (nearly) every command's accept itself; the
    // leader's entry is 0 (checked inside).
    if (n > 0) ++followers;
    if (n > 0) CHECK(n >= kCommands / 2);
  }
  CHECK(followers == 2);
}
