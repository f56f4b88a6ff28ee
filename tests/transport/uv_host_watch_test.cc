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

#include "synod/memory_storage.h"
#include "synod/tcp_transport.h"
#include "synod/uv_host.h"

using namespace synod;

namespace {

bool run_until(uv_loop_t* loop, const std::function<bool()>& pred, int seconds = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    uv_run(loop, UV_RUN_ONCE);
  }
  return true;
}

bool logged(const std::vector<std::string>& lines, std::string_view what) {
  for (const auto& l : lines)
    if (l.find(what) != std::string::npos) return true;
  return false;
}

// "c7" and the like. (Appending, because GCC 12 at -O3 raises a false
// -Wrestrict on `"c" + std::to_string(n)`.)
std::string numbered(std::string prefix, std::uint64_t n) {
  return prefix.append(std::to_string(n));
}

struct Node {
  MemoryStorage storage;
  std::unique_ptr<TcpTransport> transport;
  std::unique_ptr<UvHost> host;
  std::vector<std::string> log;
  std::vector<std::string> applied;
  bool stopped = false;
};

// One voter on its own: it elects itself at once.
std::unique_ptr<Node> single(uv_loop_t* loop, const std::function<void(UvHostOptions&)>& tune) {
  auto n = std::make_unique<Node>();
  TcpTransportOptions t;
  t.self = NodeId{1};
  t.cluster_id = 1;
  t.listen_address = "127.0.0.1:0";
  t.log = [](std::string_view) {};
  n->transport = std::make_unique<TcpTransport>(loop, t);
  UvHostOptions h;
  h.config.id = NodeId{1};
  h.config.voters = {NodeId{1}};
  h.tick_ms = 5;
  Node* raw = n.get();
  h.apply = [raw](Slot, const std::string& c) {
    raw->applied.push_back(c);
    return std::string();
  };
  h.log = [raw](std::string_view line) { raw->log.emplace_back(line); };
  tune(h);
  n->host = std::make_unique<UvHost>(loop, n->storage, *n->transport, h);
  REQUIRE(n->host->start() == Status::ok);
  REQUIRE(run_until(loop, [&] { return raw->host->info().role == Role::leader; }));
  return n;
}

void finish(uv_loop_t* loop, std::vector<Node*> nodes) {
  for (Node* n : nodes)
    if (!n->stopped) n->host->stop(), n->transport->stop();
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(loop) == 0);
}

}  // namespace

TEST_CASE("role changes are counted and logged: elections started, the leader, a new leader") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::unique_ptr<Node>> m;
  std::vector<std::string> addr(4);
  for (int id = 3; id >= 1; --id) {
    auto n = std::make_unique<Node>();
    TcpTransportOptions t;
    t.self = NodeId{static_cast<std::uint64_t>(id)};
    t.cluster_id = 1;
    t.listen_address = "127.0.0.1:0";
    for (int p = 1; p <= 3; ++p)
      if (p != id)
        t.peers.push_back(
            {NodeId{static_cast<std::uint64_t>(p)}, p > id ? addr[p] : "127.0.0.1:1"});
    t.log = [](std::string_view) {};
    n->transport = std::make_unique<TcpTransport>(&loop, t);
    UvHostOptions h;
    h.config.id = t.self;
    h.config.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
    h.config.seed = static_cast<std::uint64_t>(id);
    h.tick_ms = 5;
    Node* raw = n.get();
    h.log = [raw](std::string_view line) { raw->log.emplace_back(line); };
    n->host = std::make_unique<UvHost>(&loop, n->storage, *n->transport, h);
    REQUIRE(n->host->start() == Status::ok);
    addr[id] = numbered("127.0.0.1:", n->transport->bound_port());
    m.push_back(std::move(n));
  }
  auto leader = [&]() -> Node* {
    for (auto& x : m)
      if (!x->stopped && x->host->info().role == Role::leader) return x.get();
    return nullptr;
  };
  auto all_know = [&](Node* l) {
    for (auto& x : m)
      if (!x->stopped && x->host->info().leader != l->host->info().id) return false;
    return true;
  };
  // Role changes are looked at after ticks and Readys: one more iteration.
  auto logged_by_all = [&](const std::string& what) {
    for (auto& x : m)
      if (!x->stopped && !logged(x->log, what)) return false;
    return true;
  };
  REQUIRE(run_until(&loop, [&] { return leader() && all_know(leader()); }));
  Node* first = leader();
  std::string first_known = numbered("leader: node ", first->host->info().id.value);
  REQUIRE(run_until(&loop, [&] { return logged_by_all(first_known); }));
  CHECK(first->host->stats().elections_started >= 1);
  CHECK(logged(first->log, "became leader with ballot"));
  for (auto& x : m) {
    CHECK(x->host->stats().leader_changes == 0);  // the first leader is no change
  }
  // The leader goes away: the two others elect a new one and count a change.
  first->host->stop();
  first->transport->stop();
  first->stopped = true;
  REQUIRE(run_until(&loop, [&] { return leader() && all_know(leader()); }));
  Node* second = leader();
  std::string second_known = numbered("new leader: node ", second->host->info().id.value);
  REQUIRE(run_until(&loop, [&] { return logged_by_all(second_known); }));
  CHECK(second != first);
  CHECK(second->host->stats().elections_started >= 1);
  for (auto& x : m) {
    if (x->stopped) continue;
    CHECK(x->host->stats().leader_changes == 1);
  }
  std::vector<Node*> all;
  for (auto& x : m) all.push_back(x.get());
  finish(&loop, all);
}

TEST_CASE(
    "a loop iteration that applies for too long is a loop stall, counted and logged with its "
    "cause") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  bool slow = false;
  auto n = single(&loop, [&](UvHostOptions& h) {
    h.stall_ms = 40;
    auto apply = h.apply;
    h.apply = [apply, &slow](Slot s, const std::string& c) {
      if (slow) usleep(120 * 1000);  // a state machine doing O(data) work
      return apply(s, c);
    };
  });
  std::uint64_t before = n->host->stats().loop_stalls;
  slow = true;
  // The log says at most a line a second: propose (slowly applied) until
  // one line blames at least 100 ms on applying.
  auto blames_apply = [&] {
    for (const auto& l : n->log) {
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
    REQUIRE(run_until(&loop, [&] { return done; }));
    uv_run(&loop, UV_RUN_NOWAIT);  // the iteration's end, where stalls are judged
  }
  CHECK(blames_apply());
  CHECK(n->host->stats().loop_stalls > before);
  CHECK(n->host->stats().longest_stall_ms >= 100);
  finish(&loop, {n.get()});
}

TEST_CASE("the commands applied per loop iteration are bounded; the rest apply in later ones") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto n = single(&loop, [](UvHostOptions& h) {
    h.apply_per_iteration = 10;
    // Many Readys: 8 slots of 4 commands in flight, each round a Ready.
    h.config.batch_count_max = 4;
    h.config.max_inflight = 8;
  });
  int done = 0;
  for (int i = 0; i < 200; ++i)
    REQUIRE(n->host
                ->propose(numbered("c", static_cast<std::uint64_t>(i)),
                          [&](const ProposalOutcome& o, const std::string&) {
                            CHECK(o.outcome == Outcome::committed);
                            ++done;
                          })
                .ok());
  REQUIRE(run_until(&loop, [&] { return done == 200; }));
  CHECK(n->host->stats().apply_deferred > 0);
  REQUIRE(n->applied.size() == 200);
  for (int i = 0; i < 200; ++i)
    CHECK(n->applied[static_cast<std::size_t>(i)] == numbered("c", static_cast<std::uint64_t>(i)));
  finish(&loop, {n.get()});
}

TEST_CASE(
    "background snapshots: snapshot_begin is asked once until the image of its slot is handed "
    "over") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<Slot> asked;
  auto n = single(&loop, [&](UvHostOptions& h) {
    h.snapshot_every_slots = 3;
    h.snapshot_begin = [&](Slot s) { asked.push_back(s); };
  });
  int done = 0;
  auto propose_some = [&](int k) {
    for (int i = 0; i < k; ++i) {
      REQUIRE(
          n->host->propose("p", [&](const ProposalOutcome&, const std::string&) { ++done; }).ok());
      int want = done + 1;
      REQUIRE(run_until(&loop, [&] { return done == want; }));
    }
  };
  propose_some(10);
  REQUIRE(asked.size() == 1);  // pending: not asked again however many slots apply
  Slot first = asked[0];
  CHECK(n->host->info().snapshot == Slot{});
  REQUIRE(n->host->compact(first, "image") == Status::ok);
  run_until(&loop, [&] { return n->host->info().snapshot == first; });
  CHECK(n->host->info().snapshot == first);
  propose_some(5);
  REQUIRE(asked.size() == 2);  // asked again once handed over
  CHECK(asked[1] > first);
  n->host->snapshot_abandoned();  // the image will not come
  propose_some(5);
  CHECK(asked.size() == 3);
  finish(&loop, {n.get()});
}
