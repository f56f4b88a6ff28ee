// Three UvHosts over TLS: they commit while strangers attack node 2 and
// node 3 (no certificate, another CA, an expired certificate, node 2's
// valid certificate claiming node 1), every attack refused and counted, no
// member link dropped; then node 3 restarts from its storage and catches up.
#include <doctest/doctest.h>

#include "synod/memory_storage.h"
#include "synod/uv_host.h"
#include "tcp_test_support.h"
#include "test_pki.h"

using namespace synod;
using namespace synod::test;
using synod::testing::TestPki;

namespace {

struct Member {
  MemoryStorage storage;
  std::unique_ptr<TcpTransport> transport;
  std::unique_ptr<UvHost> host;
  std::vector<std::string> applied;
  std::vector<std::string> logs;
  std::string address;
};

struct Cluster {
  uv_loop_t loop{};
  const TestPki& pki;
  std::vector<std::unique_ptr<Member>> m{4};  // by node id; m[0] unused

  explicit Cluster(const TestPki& p) : pki(p) { uv_loop_init(&loop); }

  // Starts (or restarts, keeping its storage) node `id`; the acceptors
  // (higher ids) start first so the dialers know their ports.
  void start(int id) {
    if (!m[id]) m[id] = std::make_unique<Member>();
    Member& x = *m[id];
    x.applied.clear();  // a restarted host applies its log from the start
    TcpTransportOptions t;
    t.self = NodeId{static_cast<std::uint64_t>(id)};
    t.cluster_id = 7;
    t.listen_address = x.address.empty() ? "127.0.0.1:0" : x.address;
    for (int p = 1; p <= 3; ++p)
      if (p != id)
        t.peers.push_back({NodeId{static_cast<std::uint64_t>(p)},
                           p > id ? m[p]->address : std::string("127.0.0.1:1")});
    t.tls = pki.node(7, static_cast<std::uint64_t>(id));
    t.log = [&x](std::string_view l) { x.logs.emplace_back(l); };
    x.transport = std::make_unique<TcpTransport>(&loop, t);
    UvHostOptions h;
    h.config.id = t.self;
    h.config.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
    h.config.seed = static_cast<std::uint64_t>(id);
    h.tick_ms = 5;
    h.apply = [&x](Slot, const std::string& c) {
      x.applied.push_back(c);
      return std::string{};
    };
    x.host = std::make_unique<UvHost>(&loop, x.storage, *x.transport, h);
    REQUIRE(x.host->start() == Status::ok);
    x.address = "127.0.0.1:" + std::to_string(x.transport->bound_port());
  }

  void stop(int id) {
    m[id]->host->stop();
    m[id]->transport->stop();
  }

  UvHost* leader() {
    for (int id = 1; id <= 3; ++id)
      if (m[id] && m[id]->host && m[id]->host->info().role == Role::leader)
        return m[id]->host.get();
    return nullptr;
  }

  // Proposes `n` commands through the leader; true once all committed.
  bool commit(int n, const std::string& prefix, const std::function<void()>& meanwhile = {}) {
    int done = 0;
    if (!run_until(
            &loop, [&] { return leader() != nullptr; }, 10000))
      return false;
    for (int i = 0; i < n; ++i) {
      UvHost* l = leader();
      if (!l) return false;
      ProposeResult r =
          l->propose(prefix + std::to_string(i), [&](const ProposalOutcome& o, const std::string&) {
            if (o.outcome == Outcome::committed) ++done;
          });
      if (!r.ok()) return false;
      if (meanwhile) meanwhile();
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    return run_until(
        &loop, [&] { return done == n; }, 10000);
  }
};

}  // namespace

TEST_CASE("a TLS cluster commits while strangers are refused, and survives a restart") {
  TestPki pki("cluster CA");
  TestPki other("another CA");
  Cluster c(pki);
  for (int id = 3; id >= 1; --id) c.start(id);
  REQUIRE(c.commit(20, "before-"));
  std::uint64_t connects2 = c.m[2]->transport->stats().connects;
  std::uint64_t connects3 = c.m[3]->transport->stats().connects;

  auto port = [&](int id) { return c.m[id]->transport->bound_port(); };
  auto expired = pki.issue("synod://7/node/1", -7200, -3600);
  auto foreign = other.issue("synod://7/node/1");
  auto node2 = pki.issue("synod://7/node/2");
  std::vector<std::unique_ptr<TlsStranger>> strangers;
  for (int target : {2, 3}) {
    strangers.push_back(std::make_unique<TlsStranger>(port(target), "", ""));
    strangers.push_back(
        std::make_unique<TlsStranger>(port(target), foreign.cert_pem, foreign.key_pem));
    strangers.push_back(
        std::make_unique<TlsStranger>(port(target), expired.cert_pem, expired.key_pem));
  }
  // Node 2's real certificate, claiming to be node 1, against node 3.
  strangers.push_back(std::make_unique<TlsStranger>(port(3), node2.cert_pem, node2.key_pem));
  for (auto& s : strangers)
    s->send(hello(7, 1, static_cast<std::uint64_t>(&s == &strangers.back() ? 3 : 2)) +
            framed("forged accept"));
  auto pump_all = [&] {
    for (auto& s : strangers) s->pump();
  };
  REQUIRE(c.commit(50, "during-", pump_all));
  REQUIRE(run_until(&c.loop, [&] {
    pump_all();
    for (auto& s : strangers)
      if (!s->closed()) return false;
    return true;
  }));
  const TcpRefusals& r2 = c.m[2]->transport->stats().refused;
  const TcpRefusals& r3 = c.m[3]->transport->stats().refused;
  TcpRefusals a2 = r2, a3 = r3;
  CHECK(a2.tls_failed == 3);
  CHECK(a3.tls_failed == 3);
  CHECK(a3.certificate_mismatch == 1);
  CHECK(c.m[2]->transport->stats().connects == connects2);  // no member link replaced
  CHECK(c.m[3]->transport->stats().connects == connects3);
  bool logged = false;
  for (auto& l : c.m[3]->logs)
    logged |= l.find("refused connection from 127.0.0.1:") != std::string::npos &&
              l.find("certificate names node 2") != std::string::npos;
  CHECK(logged);
  for (int id = 1; id <= 3; ++id)
    for (const std::string& cmd : c.m[id]->applied) CHECK(cmd.find("forged") == std::string::npos);

  // Node 3 restarts (same storage, same port) and catches up over TLS.
  c.stop(3);
  run_for(&c.loop, 100);  // its handles close
  c.m[3]->host.reset();
  c.m[3]->transport.reset();
  REQUIRE(c.commit(10, "while-down-"));
  c.start(3);
  REQUIRE(c.commit(10, "after-"));
  bool caught_up = run_until(
      &c.loop, [&] { return c.m[3]->applied.size() == c.m[1]->applied.size(); }, 10000);
  INFO("node 3 applied " << c.m[3]->applied.size() << ", node 1 " << c.m[1]->applied.size());
  REQUIRE(caught_up);
  CHECK(c.m[3]->applied == c.m[1]->applied);
  CHECK(c.m[1]->applied.size() == 90);
  for (int id = 1; id <= 3; ++id) c.stop(id);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&c.loop) == 0);
}
