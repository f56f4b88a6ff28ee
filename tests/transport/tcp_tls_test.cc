// TcpTransport with mutual TLS: peers connect and carry frames, reconnect
// after a restart; strangers without a certificate, with one from another
// CA, an expired one, or a valid one for another node are refused, counted
// and logged; bad TLS material fails start() with invalid_config.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tcp_test_support.h"
#include "test_pki.h"

using namespace synod;
using namespace synod::test;
using synod::testing::TestPki;

namespace {

TcpTransportOptions tls_node(const TestPki& pki, std::uint64_t id, std::string listen,
                             std::vector<Peer> peers) {
  TcpTransportOptions o = node_options(id, std::move(listen), std::move(peers));
  o.tls = pki.node(7, id);
  return o;
}

}  // namespace

TEST_CASE("TLS: two transports connect, carry frames, and reconnect after a restart") {
  TestPki pki("cluster CA");
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make_node(&loop, tls_node(pki, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}}));
  REQUIRE(b->t->start() == Status::ok);
  std::string baddr = address_of(*b);
  auto a = make_node(&loop, tls_node(pki, 1, "127.0.0.1:0", {{NodeId{2}, baddr}}));
  REQUIRE(a->t->start() == Status::ok);
  CHECK(a->t->send(NodeId{2}, as_bytes("early")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
  CHECK(b->got[0].from == NodeId{1});
  CHECK(b->got[0].bytes == "early");
  CHECK(b->logged("TLS"));
  // Batching survives TLS: 200 frames sent in one go take far fewer writes.
  std::uint64_t writes_before = b->t->stats().writes;
  for (int i = 0; i < 200; ++i)
    CHECK(b->t->send(NodeId{1}, as_bytes(std::to_string(i))) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->got.size() == 200; }));
  CHECK(a->got[199].bytes == "199");
  CHECK(b->t->stats().writes - writes_before < 20);
  // A frame far larger than one TLS record arrives whole.
  std::string big(60000, 'q');
  CHECK(a->t->send(NodeId{2}, as_bytes(big)) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 2; }));
  CHECK(b->got[1].bytes == big);

  b->t->stop();
  REQUIRE(run_until(&loop, [&] { return !a->t->connected(NodeId{2}); }));
  b = make_node(&loop, tls_node(pki, 2, baddr, {{NodeId{1}, "127.0.0.1:1"}}));
  REQUIRE(b->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  CHECK(a->t->send(NodeId{2}, as_bytes("again")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
  CHECK(b->got[0].bytes == "again");
  CHECK(a->t->stats().handshakes_refused == 0);
  CHECK(b->t->stats().handshakes_refused == 0);
  stop_all(&loop, {a.get(), b.get()});
}

TEST_CASE("TLS: strangers are refused by certificate, counted and logged with their address") {
  TestPki pki("cluster CA");
  TestPki other("another CA");
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make_node(&loop, tls_node(pki, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}}));
  REQUIRE(b->t->start() == Status::ok);
  int port = b->t->bound_port();
  const TcpRefusals& r = b->t->stats().refused;
  (void)r;
  auto refused_after = [&](TlsStranger& s, const std::function<std::uint64_t()>& counter,
                           std::uint64_t want) {
    return run_until(&loop, [&] {
      s.pump();
      return counter() == want && s.closed();
    });
  };

  SUBCASE("no certificate") {
    TlsStranger s(port, "", "");
    s.send(hello(7, 1, 2) + framed("forged"));
    REQUIRE(refused_after(
        s, [&] { return b->t->stats().refused.tls_failed; }, 1));
    CHECK(b->logged("certificate"));
  }
  SUBCASE("a certificate from another CA naming node 1") {
    auto ck = other.issue("synod://7/node/1");
    TlsStranger s(port, ck.cert_pem, ck.key_pem);
    s.send(hello(7, 1, 2) + framed("forged"));
    REQUIRE(refused_after(
        s, [&] { return b->t->stats().refused.tls_failed; }, 1));
    CHECK(b->logged("certificate refused"));
  }
  SUBCASE("an expired certificate from the cluster CA") {
    auto ck = pki.issue("synod://7/node/1", -7200, -3600);
    TlsStranger s(port, ck.cert_pem, ck.key_pem);
    s.send(hello(7, 1, 2) + framed("forged"));
    REQUIRE(refused_after(
        s, [&] { return b->t->stats().refused.tls_failed; }, 1));
    CHECK(b->logged("expired"));
  }
  SUBCASE("a valid certificate for node 3 whose hello claims node 1") {
    auto ck = pki.issue("synod://7/node/3");
    TlsStranger s(port, ck.cert_pem, ck.key_pem);
    s.send(hello(7, 1, 2) + framed("forged"));
    REQUIRE(refused_after(
        s, [&] { return b->t->stats().refused.certificate_mismatch; }, 1));
    CHECK(b->logged("certificate names node 3"));
  }
  SUBCASE("a valid certificate for node 1 of another cluster") {
    auto ck = pki.issue("synod://8/node/1");
    TlsStranger s(port, ck.cert_pem, ck.key_pem);
    s.send(hello(7, 1, 2) + framed("forged"));
    REQUIRE(refused_after(
        s, [&] { return b->t->stats().refused.certificate_mismatch; }, 1));
    CHECK(b->logged("names no node of cluster 7"));
  }
  SUBCASE("a plaintext hello") {
    int fd = raw_connect(port);
    std::string h = hello(7, 1, 2) + framed("forged");
    REQUIRE(write(fd, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
    REQUIRE(run_until(&loop, [&] { return b->t->stats().refused.tls_failed == 1; }));
    ::close(fd);
  }
  CHECK(b->t->stats().handshakes_refused == 1);
  CHECK(b->logged("refused connection from 127.0.0.1:"));
  CHECK(b->got.empty());
  CHECK(b->t->stats().connects == 0);
  stop_all(&loop, {b.get()});
}

TEST_CASE("TLS: a dialer refuses a listener whose certificate names another node") {
  TestPki pki("cluster CA");
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Node 3's process (certificate for node 3) listens where node 1 expects node 2.
  auto impostor = make_node(&loop, tls_node(pki, 3, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}}));
  REQUIRE(impostor->t->start() == Status::ok);
  auto a = make_node(&loop, tls_node(pki, 1, "127.0.0.1:0", {{NodeId{2}, address_of(*impostor)}}));
  REQUIRE(a->t->start() == Status::ok);
  CHECK(a->t->send(NodeId{2}, as_bytes("secret")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->stats().refused.certificate_mismatch >= 1; }));
  CHECK(a->logged("dialed node 2 but its certificate names node 3"));
  CHECK(!a->t->connected(NodeId{2}));
  CHECK(impostor->got.empty());
  stop_all(&loop, {a.get(), impostor.get()});
}

TEST_CASE("TLS: missing, unreadable or mismatched material fails start with invalid_config") {
  TestPki pki("cluster CA");
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto dir =
      std::filesystem::temp_directory_path() / ("synod-tls-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto put = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  TlsOptions n1 = pki.node(7, 1), n2 = pki.node(7, 2);
  std::string cert = put("n1.pem", n1.cert_pem), key = put("n1.key", n1.key_pem),
              ca = put("ca.pem", pki.ca_pem()), garbage = put("garbage.pem", "not PEM at all\n"),
              other_key = put("n2.key", n2.key_pem);
  struct Case {
    TlsOptions tls;
    std::string logged;
  };
  std::vector<Case> cases = {
      {{dir.string() + "/absent.pem", key, ca, "", "", ""}, "absent.pem"},
      {{garbage, key, ca, "", "", ""}, "garbage.pem"},
      {{cert, other_key, ca, "", "", ""}, "does not match"},
      {{cert, garbage, ca, "", "", ""}, "garbage.pem"},
      {{cert, key, dir.string() + "/no-ca.pem", "", "", ""}, "no-ca.pem"},
      {{cert, key, "", "", "", ""}, "no CA"},
      {{"", "", "", n1.cert_pem, n2.key_pem, n1.ca_pem}, "key_pem does not match cert_pem"},
  };
  for (const Case& c : cases) {
    TcpTransportOptions o = node_options(1, "127.0.0.1:0", {});
    o.tls = c.tls;
    auto n = make_node(&loop, o);
    CHECK(n->t->start() == Status::invalid_config);
    CHECK_MESSAGE(n->logged(c.logged), c.logged);
  }
  // The same files, all good, start.
  TcpTransportOptions o = node_options(1, "127.0.0.1:0", {});
  o.tls = {cert, key, ca, "", "", ""};
  auto ok = make_node(&loop, o);
  CHECK(ok->t->start() == Status::ok);
  std::filesystem::remove_all(dir);
  stop_all(&loop, {ok.get()});
}
