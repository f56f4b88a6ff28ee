// UvHost's watching of its loop and its replica (uv_host_watch.cc): role
// changes counted and logged, loop stalls measured with their cause, the
// per-iteration apply budget, and background snapshots (snapshot_begin).
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "uv_test_cluster.h"

using namespace synod;
using namespace synod::test;

namespace {

// "c7" and the like. (Appending, because GCC 12 at -O3 raises a false
// -Wrestrict on `"c" + std::to_string(n)`.)
std::string numbered(std::string prefix, std::uint64_t n) {
  return prefix.append(std::to_string(n));
}

// Node 1 as the only voter, with the options the cluster's tune set: it
// elects itself at once.
UvMember& single(UvTestCluster& c) {
  UvMember& n = c.start(1, node_ids({1}));
  REQUIRE(c.run_until([&] { return n.host->info().role == Role::leader; }));
  return n;
}

}  // namespace

TEST_CASE("role changes are counted and logged: elections started, the leader, a new leader") {
  UvTestCluster c;
  c.start_voters(3);
  // Role changes are looked at after ticks and Readys: one more iteration.
  auto logged_by_all = [&](const std::string& what) {
    for (auto& [id, x] : c.members)
      if (!x->stopped && !logged_in(x->host_logs, what)) return false;
    return true;
  };
  REQUIRE(c.run_until([&] { return c.leader() && c.all_follow(*c.leader()); }));
  UvMember* first = c.leader();
  std::string first_known = numbered("leader: node ", first->host->info().id.value);
  REQUIRE(c.run_until([&] { return logged_by_all(first_known); }));
  CHECK(first->host->stats().elections_started >= 1);
  CHECK(logged_in(first->host_logs, "became leader with ballot"));
  for (auto& [id, x] : c.members) {
    CHECK(x->host->stats().leader_changes == 0);  // the first leader is no change
  }
  // The leader goes away: the two others elect a new one and count a change.
  c.stop(first->id.value);
  REQUIRE(c.run_until([&] { return c.leader() && c.all_follow(*c.leader()); }));
  UvMember* second = c.leader();
  std::string second_known = numbered("new leader: node ", second->host->info().id.value);
  REQUIRE(c.run_until([&] { return logged_by_all(second_known); }));
  CHECK(second != first);
  CHECK(second->host->stats().elections_started >= 1);
  for (auto& [id, x] : c.members) {
    if (x->stopped) continue;
    CHECK(x->host->stats().leader_changes == 1);
  }
  c.finish();
}

TEST_CASE(
    "a loop iteration that applies for too long is a loop stall, counted and logged with its "
    "cause") {
  bool slow = false;
  UvTestCluster c(7, [&](UvMember&, TcpTransportOptions&, UvHostOptions& h) {
    h.stall_ms = 40;
    auto apply = h.apply;
    h.apply = [apply, &slow](Slot s, std::string_view cmd) {
      if (slow) usleep(120 * 1000);  // a state machine doing O(data) work
      return apply(s, cmd);
    };
  });
  UvMember* n = &single(c);
  std::uint64_t before = n->host->stats().loop_stalls;
  slow = true;
  // The log says at most a line a second: propose (slowly applied) until
  // one line blames at least 100 ms on applying.
  auto blames_apply = [&] {
    for (const auto& l : n->host_logs) {
      auto at = l.find("applying and persisting ");
      if (l.find("loop stall") == 0 && at != std::string::npos &&
          std::stoul(l.substr(at + 24)) >= 100)
        return true;
    }
    return false;
  };
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!blames_apply() && std::chrono::steady_clock::now() < end) {
    bool done = false;
    REQUIRE(n->host->propose("x", [&](const ProposalOutcome&, const std::string&) { done = true; })
                .ok());
    REQUIRE(c.run_until([&] { return done; }));
    uv_run(&c.loop, UV_RUN_NOWAIT);  // the iteration's end, where stalls are judged
  }
  CHECK(blames_apply());
  CHECK(n->host->stats().loop_stalls > before);
  CHECK(n->host->stats().longest_stall_ms >= 100);
  c.finish();
}

TEST_CASE("the commands applied per loop iteration are bounded; the rest apply in later ones") {
  UvTestCluster c(7, [](UvMember&, TcpTransportOptions&, UvHostOptions& h) {
    h.apply_per_iteration = 10;
    // Many Readys: 8 slots of 4 commands in flight, each round a Ready.
    h.config.batch_count_max = 4;
    h.config.max_inflight = 8;
  });
  UvMember* n = &single(c);
  int done = 0;
  for (int i = 0; i < 200; ++i)
    REQUIRE(n->host
                ->propose(numbered("c", static_cast<std::uint64_t>(i)),
                          [&](const ProposalOutcome& o, const std::string&) {
                            CHECK(o.outcome == Outcome::committed);
                            ++done;
                          })
                .ok());
  REQUIRE(c.run_until([&] { return done == 200; }));
  CHECK(n->host->stats().apply_deferred > 0);
  REQUIRE(n->applied.size() == 200);
  for (int i = 0; i < 200; ++i)
    CHECK(n->applied[static_cast<std::size_t>(i)] == numbered("c", static_cast<std::uint64_t>(i)));
  c.finish();
}

TEST_CASE(
    "background snapshots: snapshot_begin is asked once until the image of its slot is handed "
    "over") {
  std::vector<Slot> asked;
  UvTestCluster c(7, [&](UvMember&, TcpTransportOptions&, UvHostOptions& h) {
    h.snapshot_every_slots = 3;
    h.snapshot_begin = [&](Slot s) { asked.push_back(s); };
  });
  UvMember* n = &single(c);
  int done = 0;
  auto propose_some = [&](int k) {
    for (int i = 0; i < k; ++i) {
      REQUIRE(
          n->host->propose("p", [&](const ProposalOutcome&, const std::string&) { ++done; }).ok());
      int want = done + 1;
      REQUIRE(c.run_until([&] { return done == want; }));
    }
  };
  propose_some(10);
  REQUIRE(asked.size() == 1);  // pending: not asked again however many slots apply
  Slot first = asked[0];
  CHECK(n->host->info().snapshot == Slot{});
  REQUIRE(n->host->compact(first, "image") == Status::ok);
  c.run_until([&] { return n->host->info().snapshot == first; });
  CHECK(n->host->info().snapshot == first);
  propose_some(5);
  REQUIRE(asked.size() == 2);  // asked again once handed over
  CHECK(asked[1] > first);
  n->host->snapshot_abandoned();  // the image will not come
  propose_some(5);
  CHECK(asked.size() == 3);
  c.finish();
}

// SIGSTOP, or a loop blocked: when it runs again the poll's callbacks come
// before the late timer. A read taken then must not be answered from a lease
// that ran out meanwhile: read() ticks for the time that passed first.
TEST_CASE("a read after the loop stood still longer than a lease confirms with a round first") {
  UvTestCluster c(
      7, [](UvMember&, TcpTransportOptions&, UvHostOptions& h) { h.config.lease_reads = true; });
  c.start_voters(3);
  REQUIRE(c.commit(1, "a"));
  auto answered_at_once = [&] {
    UvMember* l = c.leader();
    REQUIRE(l != nullptr);
    bool done = false;
    REQUIRE(l->host->read([&](Status s, NodeId) { done = s == Status::ok; }).ok());
    uv_run(&c.loop, UV_RUN_NOWAIT);
    bool at_once = done;
    REQUIRE(c.run_until([&] { return done; }));
    return at_once;
  };
  bool leased = false;
  for (int i = 0; i < 50 && !leased; ++i) {
    REQUIRE(c.commit(1, numbered("awake-", static_cast<std::uint64_t>(i))));
    leased = answered_at_once();
  }
  REQUIRE(leased);  // the lease works while the loop runs
  REQUIRE(c.commit(1, "b"));
  usleep(1000 * 1000);  // the whole process stands still for many election timeouts
  CHECK_FALSE(answered_at_once());
  c.finish();
}
