// Three UvHosts over TcpTransport on one loop: they elect a leader, commit
// proposals through the wire codec, and apply the same log.
#include "synod/uv_host.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "synod/memory_storage.h"
#include "synod/tcp_transport.h"

using namespace synod;

namespace {

struct Member {
  MemoryStorage storage;
  std::unique_ptr<TcpTransport> transport;
  std::unique_ptr<UvHost> host;
  std::vector<std::string> applied;
};

bool run_until(uv_loop_t* loop, const std::function<bool()>& pred, int seconds = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    uv_run(loop, UV_RUN_ONCE);
  }
  return true;
}

}  // namespace

TEST_CASE("three libuv hosts on loopback elect a leader and apply one log") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Ports: bind the acceptors first on port 0 and hand the dialers the result.
  std::vector<std::unique_ptr<Member>> m;
  std::vector<std::string> addr(4);
  for (int id = 3; id >= 1; --id) {
    auto mem = std::make_unique<Member>();
    TcpTransportOptions t;
    t.self = NodeId{static_cast<std::uint64_t>(id)};
    t.cluster_id = 1;
    t.listen_address = "127.0.0.1:0";
    for (int p = 1; p <= 3; ++p)
      if (p != id)
        t.peers.push_back(
            {NodeId{static_cast<std::uint64_t>(p)}, p > id ? addr[p] : "127.0.0.1:1"});
    t.log = [](std::string_view) {};
    mem->transport = std::make_unique<TcpTransport>(&loop, t);
    UvHostOptions h;
    h.config.id = t.self;
    h.config.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
    h.config.seed = static_cast<std::uint64_t>(id);
    h.tick_ms = 5;
    Member* raw = mem.get();
    h.apply = [raw](Slot, const std::string& c) {
      raw->applied.push_back(c);
      return "ok:" + c;
    };
    mem->host = std::make_unique<UvHost>(&loop, mem->storage, *mem->transport, h);
    REQUIRE(mem->host->start() == Status::ok);
    addr[id] = "127.0.0.1:" + std::to_string(mem->transport->bound_port());
    m.push_back(std::move(mem));
  }
  auto leader = [&]() -> UvHost* {
    for (auto& x : m)
      if (x->host->info().role == Role::leader) return x->host.get();
    return nullptr;
  };
  REQUIRE(run_until(&loop, [&] { return leader() != nullptr; }));
  int done = 0;
  std::vector<std::string> results;
  for (int i = 0; i < 50; ++i) {
    std::string cmd = "cmd" + std::to_string(i);
    ProposeResult r = leader()->propose(cmd, [&](const ProposalOutcome& o, const std::string& res) {
      CHECK(o.outcome == Outcome::committed);
      results.push_back(res);
      ++done;
    });
    REQUIRE(r.ok());
  }
  REQUIRE(run_until(&loop, [&] { return done == 50; }));
  CHECK(results.front() == "ok:cmd0");
  REQUIRE(run_until(&loop, [&] {
    for (auto& x : m)
      if (x->applied.size() != 50) return false;
    return true;
  }));
  for (auto& x : m) CHECK(x->applied == m[0]->applied);
  for (auto& x : m) x->host->stop(), x->transport->stop();
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
