// TcpTransport knocks (docs/transport-tls.md, "Knocks"): the lower id
// dials, so a restarted higher id would wait for its peer's reconnect
// backoff; it knocks instead, and the lower id dials it at once. A knock
// never breaks a live link on a stranger's word.
#include <doctest/doctest.h>

#include "tcp_test_support.h"
#include "test_pki.h"

using namespace synod;
using namespace synod::test;
using synod::testing::TestPki;

namespace {

// Node 1, whose own redials wait a minute: it reconnects within a test's
// deadline only when a knock asks it to.
TcpTransportOptions patient_node1(std::string listen, std::string peer2) {
  TcpTransportOptions o = node_options(1, std::move(listen), {{NodeId{2}, std::move(peer2)}});
  o.reconnect_min_ms = 60000;
  o.reconnect_max_ms = 60000;
  return o;
}

}  // namespace

TEST_CASE(
    "a restarted higher id knocks and its lower-id peer dials it at once, whatever its "
    "backoff") {
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    TestPki pki("cluster CA");
    std::string aaddr = free_addresses(1)[0];  // so both know each other's address
    uv_loop_t loop;
    uv_loop_init(&loop);

    auto options2 = [&](std::string listen) {
      TcpTransportOptions o = node_options(2, std::move(listen), {{NodeId{1}, aaddr}});
      if (tls) o.tls = pki.node(7, 2);
      return o;
    };
    auto b = make_node(&loop, options2("127.0.0.1:0"));
    REQUIRE(b->t->start() == Status::ok);
    std::string baddr = address_of(*b);
    TcpTransportOptions oa = patient_node1(aaddr, baddr);
    if (tls) oa.tls = pki.node(7, 1);
    auto a = make_node(&loop, oa);
    REQUIRE(a->t->start() == Status::ok);
    REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));

    b->t->stop();
    REQUIRE(run_until(&loop, [&] { return !a->t->connected(NodeId{2}); }));
    run_for(&loop, 50);  // node 1's redial is now a minute away
    b = make_node(&loop, options2(baddr));
    REQUIRE(b->t->start() == Status::ok);
    REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
    CHECK(b->t->stats().knocks_sent >= 1);
    CHECK(a->t->stats().knocks_received >= 1);
    CHECK(a->t->send(NodeId{2}, as_bytes("again")) == Status::ok);
    REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
    CHECK(b->got[0].bytes == "again");
    CHECK(a->t->stats().handshakes_refused == 0);
    CHECK(b->t->stats().handshakes_refused == 0);
    stop_all(&loop, {a.get(), b.get()});
  }
}

TEST_CASE(
    "a stranger's knock without TLS leaves a live link alone; a quiet link is redialed, and "
    "the higher id knocks until it is back") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make_node(&loop, node_options(2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}}));
  REQUIRE(b->t->start() == Status::ok);
  TcpTransportOptions oa = patient_node1("127.0.0.1:0", address_of(*b));
  auto a = make_node(&loop, oa);
  REQUIRE(a->t->start() == Status::ok);
  // Node 2 knows node 1's real address only now: its knocks can reach it.
  b->t->set_peers({{NodeId{1}, address_of(*a)}});
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  REQUIRE(a->t->stats().connects == 1);

  // A hello claiming node 2, from a stranger: node 1's link to node 2 is
  // live (replace_quiet_ms has not passed), so it stays.
  run_for(&loop, 50);  // node 2's own knocks are over
  std::uint64_t received = a->t->stats().knocks_received;
  int fd = raw_connect(a->t->bound_port());
  std::string h = hello(7, 2, 1);
  REQUIRE(write(fd, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(&loop, [&] { return a->t->stats().knocks_received == received + 1; }));
  run_for(&loop, 50);
  ::close(fd);
  CHECK(a->t->connected(NodeId{2}));
  CHECK(a->t->stats().connects == 1);
  CHECK_FALSE(a->logged("knocked"));

  // The same knock on a fresh node 1 that takes any link as quiet: it
  // drops its link, its own redial is a minute away, and node 2, having
  // lost the link, knocks until node 1 dials it again.
  stop_all(&loop, {a.get(), b.get()});
  uv_loop_init(&loop);
  b = make_node(&loop, node_options(2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}}));
  REQUIRE(b->t->start() == Status::ok);
  oa = patient_node1("127.0.0.1:0", address_of(*b));
  oa.replace_quiet_ms = 0;
  a = make_node(&loop, oa);
  REQUIRE(a->t->start() == Status::ok);
  b->t->set_peers({{NodeId{1}, address_of(*a)}});
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  run_for(&loop, 50);  // a knock accepted as the link formed is taken as crossing it
  std::uint64_t knocks = b->t->stats().knocks_sent;
  fd = raw_connect(a->t->bound_port());
  REQUIRE(write(fd, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(&loop, [&] { return a->t->stats().connects == 2; }));
  ::close(fd);
  CHECK(a->logged("node 2 knocked"));
  CHECK(b->t->stats().knocks_sent > knocks);
  CHECK(a->t->send(NodeId{2}, as_bytes("after")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
  CHECK(b->got[0].bytes == "after");
  stop_all(&loop, {a.get(), b.get()});
}

// A knock and a dial cross: node 2 knocks, node 1 dials; node 2's next knock,
// opened before the link formed, must not drop it once it has. With TLS (a
// knock proves its sender) and node 2 knocking every millisecond this
// dropped fresh links again and again (3 to 170 times per restart).
TEST_CASE("TLS: a knock that crossed the dial does not drop the new link") {
  TestPki pki("cluster CA");
  std::string aaddr = free_addresses(1)[0];
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto options2 = [&](std::string listen) {
    TcpTransportOptions o = node_options(2, std::move(listen), {{NodeId{1}, aaddr}});
    o.tls = pki.node(7, 2);
    o.reconnect_min_ms = 1;  // knocks as often as it can
    return o;
  };
  auto b = make_node(&loop, options2("127.0.0.1:0"));
  REQUIRE(b->t->start() == Status::ok);
  std::string baddr = address_of(*b);
  TcpTransportOptions oa = node_options(1, aaddr, {{NodeId{2}, baddr}});
  oa.tls = pki.node(7, 1);
  auto a = make_node(&loop, oa);
  REQUIRE(a->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  for (int round = 0; round < 4; ++round) {
    CAPTURE(round);
    b->t->stop();
    REQUIRE(run_until(&loop, [&] { return !a->t->connected(NodeId{2}); }));
    run_for(&loop, 30 + 40 * round);
    b = make_node(&loop, options2(baddr));
    REQUIRE(b->t->start() == Status::ok);
    std::uint64_t connects = a->t->stats().connects;
    REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
    for (int i = 0; i < 50; ++i) {  // traffic both ways for half a second
      CHECK(a->t->send(NodeId{2}, as_bytes("a")) == Status::ok);
      CHECK(b->t->send(NodeId{1}, as_bytes("b")) == Status::ok);
      run_for(&loop, 10);
    }
    CHECK(a->t->stats().connects == connects + 1);
    CHECK(b->t->stats().connects == 1);
    CHECK_FALSE(a->logged("knocked: it lost our link"));
  }
  stop_all(&loop, {a.get(), b.get()});
}
