// TcpTransport's limits on unintroduced connections, with or without TLS:
// the handshake deadline, the per-address and total caps (a configured
// peer's address is exempt from the total), and, without TLS, no takeover
// of a node whose link is busy.
#include <doctest/doctest.h>

#include "tcp_test_support.h"

using namespace synod;
using namespace synod::test;

TEST_CASE("a silent connection is closed after the handshake deadline") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  TcpTransportOptions o = node_options(2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  o.handshake_timeout_ms = 100;
  auto b = make_node(&loop, o);
  REQUIRE(b->t->start() == Status::ok);
  int silent = raw_connect(b->t->bound_port());
  int half = raw_connect(b->t->bound_port());  // half a hello, then nothing
  std::string h = hello(7, 1, 2).substr(0, 10);
  REQUIRE(write(half, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  run_for(&loop, 50);
  CHECK(!peer_closed(silent));  // not before the deadline
  REQUIRE(run_until(&loop, [&] { return b->t->stats().refused.handshake_timeout == 2; }));
  REQUIRE(run_until(&loop, [&] { return peer_closed(silent) && peer_closed(half); }));
  CHECK(b->logged("no handshake within 100 ms"));
  CHECK(b->logged("from 127.0.0.1:"));
  ::close(silent);
  ::close(half);
  stop_all(&loop, {b.get()});
}

TEST_CASE("a dial that a peer accepts but never answers times out and is redialed") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string addr;
  int listener = raw_listener(16, &addr);
  TcpTransportOptions o = node_options(1, "127.0.0.1:0", {{NodeId{2}, addr}});
  o.handshake_timeout_ms = 80;
  auto n1 = make_node(&loop, o);
  REQUIRE(n1->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return n1->t->stats().refused.handshake_timeout >= 2; }));
  CHECK(n1->logged("refused connection to 127.0.0.1:"));
  ::close(listener);
  stop_all(&loop, {n1.get()});
}

TEST_CASE("unintroduced connections are capped per address") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  TcpTransportOptions o = node_options(2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  o.pending_per_address_max = 2;
  auto b = make_node(&loop, o);
  REQUIRE(b->t->start() == Status::ok);
  int port = b->t->bound_port();
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(raw_connect(port, "127.0.0.2"));
  REQUIRE(run_until(&loop, [&] { return b->t->stats().refused.per_address_cap == 1; }));
  REQUIRE(run_until(&loop, [&] { return peer_closed(fds[2]); }));
  CHECK(!peer_closed(fds[0]));
  CHECK(!peer_closed(fds[1]));
  CHECK(b->logged("refused connection from 127.0.0.2:"));
  // Another address is not affected.
  int other = raw_connect(port, "127.0.0.3");
  run_for(&loop, 50);
  CHECK(b->t->stats().refused.per_address_cap == 1);
  CHECK(!peer_closed(other));
  fds.push_back(other);
  for (int fd : fds) ::close(fd);
  stop_all(&loop, {b.get()});
}

TEST_CASE(
    "seven members on one address start at once: the per-address cap leaves room for each "
    "configured peer there") {
  // Every member of a cluster run on one host dials or knocks node 1 at
  // start, six unintroduced connections from 127.0.0.1 at once against a
  // cap of 4: the cap must not refuse the cluster's own members.
  constexpr int kNodes = 7;
  std::vector<std::string> addrs = free_addresses(kNodes);
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::unique_ptr<TcpNode>> nodes;
  for (int i = 1; i <= kNodes; ++i) {
    std::vector<Peer> peers;
    for (int j = 1; j <= kNodes; ++j)
      if (j != i) peers.push_back({NodeId{static_cast<std::uint64_t>(j)}, addrs[j - 1]});
    TcpTransportOptions o = node_options(i, addrs[i - 1], peers);
    o.reconnect_min_ms = o.reconnect_max_ms = 60000;  // a refused dial would not come back
    nodes.push_back(make_node(&loop, o));
  }
  for (auto& n : nodes) REQUIRE(n->t->start() == Status::ok);
  auto meshed = [&] {
    for (int i = 0; i < kNodes; ++i)
      for (int j = 0; j < kNodes; ++j)
        if (i != j && !nodes[i]->t->connected(NodeId{static_cast<std::uint64_t>(j + 1)}))
          return false;
    return true;
  };
  CHECK(run_until(&loop, meshed));
  for (auto& n : nodes) {
    CHECK(n->t->stats().refused.per_address_cap == 0);
    CHECK(n->t->stats().handshakes_refused == 0);
  }
  std::vector<TcpNode*> raw;
  for (auto& n : nodes) raw.push_back(n.get());
  stop_all(&loop, raw);
}

TEST_CASE("a stranger on a peer's address gets the cap plus one room per peer there, no more") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Two configured peers on 127.0.0.5: room for 2 + 2 unintroduced connections from it.
  TcpTransportOptions o =
      node_options(2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.5:1"}, {NodeId{3}, "127.0.0.5:2"}});
  o.pending_per_address_max = 2;
  auto b = make_node(&loop, o);
  REQUIRE(b->t->start() == Status::ok);
  int port = b->t->bound_port();
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(raw_connect(port, "127.0.0.5"));
  REQUIRE(run_until(&loop, [&] { return b->t->stats().refused.per_address_cap == 1; }));
  REQUIRE(run_until(&loop, [&] { return peer_closed(fds[4]); }));
  for (int i = 0; i < 4; ++i) CHECK(!peer_closed(fds[i]));
  CHECK(b->logged("(limit 4: 2 and one for each of its 2 configured peers)"));
  for (int fd : fds) ::close(fd);
  stop_all(&loop, {b.get()});
}

TEST_CASE("strangers filling the pending table do not lock out a configured peer") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  TcpTransportOptions o = node_options(2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  o.pending_total_max = 6;
  o.pending_per_address_max = 2;
  auto b = make_node(&loop, o);
  REQUIRE(b->t->start() == Status::ok);
  int port = b->t->bound_port();
  // Six strangers on three addresses fill the table; a seventh is refused.
  std::vector<int> fds;
  for (int i = 0; i < 7; ++i) {
    std::string ip = "127.0.0." + std::to_string(10 + i / 2);
    fds.push_back(raw_connect(port, ip.c_str()));
    run_for(&loop, 5);
  }
  REQUIRE(run_until(&loop, [&] { return b->t->stats().refused.total_cap == 1; }));
  CHECK(b->logged("unintroduced connections (limit 6)"));
  // Node 1, from 127.0.0.1 (its configured address), still gets in.
  auto a = make_node(&loop, node_options(1, "127.0.0.1:0", {{NodeId{2}, address_of(*b)}}));
  REQUIRE(a->t->start() == Status::ok);
  CHECK(a->t->send(NodeId{2}, as_bytes("member")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
  CHECK(b->got[0].bytes == "member");
  CHECK(b->t->stats().refused.total_cap == 1);
  for (int fd : fds) ::close(fd);
  stop_all(&loop, {a.get(), b.get()});
}

TEST_CASE(
    "without TLS a hello claiming a node with a busy link is refused; a quiet link is replaced") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  TcpTransportOptions ob = node_options(2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  ob.replace_quiet_ms = 300;
  auto b = make_node(&loop, ob);
  REQUIRE(b->t->start() == Status::ok);
  auto a = make_node(&loop, node_options(1, "127.0.0.1:0", {{NodeId{2}, address_of(*b)}}));
  REQUIRE(a->t->start() == Status::ok);
  CHECK(a->t->send(NodeId{2}, as_bytes("real 1")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));

  // The link just carried bytes: a thief claiming node 1 is refused.
  int thief = raw_connect(b->t->bound_port());
  std::string h = hello(7, 1, 2) + framed("forged");
  REQUIRE(write(thief, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(&loop, [&] { return b->t->stats().refused.replacement_refused == 1; }));
  CHECK(b->logged("claims node 1"));
  CHECK(a->t->connected(NodeId{2}));
  CHECK(b->t->connected(NodeId{1}));
  CHECK(a->t->send(NodeId{2}, as_bytes("real 2")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 2; }));
  CHECK(b->got[1].bytes == "real 2");
  CHECK(b->t->stats().connects == 1);
  ::close(thief);

  // Quiet for longer than replace_quiet_ms (a peer that restarted looks
  // like this): the newcomer takes the link over.
  run_for(&loop, 400);
  int newcomer = raw_connect(b->t->bound_port());
  h = hello(7, 1, 2) + framed("after restart");
  REQUIRE(write(newcomer, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 3; }));
  CHECK(b->got[2].bytes == "after restart");
  CHECK(b->t->stats().connects == 2);
  CHECK(b->t->stats().refused.replacement_refused == 1);
  ::close(newcomer);
  stop_all(&loop, {a.get(), b.get()});
}

TEST_CASE(
    "a flood of refused connections is counted in full and logged at most 20 lines a second") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make_node(&loop, node_options(2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}}));
  REQUIRE(b->t->start() == Status::ok);
  int port = b->t->bound_port();
  auto refusal_lines = [&] {
    std::size_t n = 0;
    for (const auto& l : b->logs) n += l.find("refused connection") != std::string::npos;
    return n;
  };
  // 60 connections at once, each with a hello for another cluster: every
  // one refused (past the fourth pending one from this address by the
  // per-address cap, the others for their hello) and counted; 20 logged.
  std::string h = hello(99, 1, 2);
  std::vector<int> fds;
  for (int i = 0; i < 60; ++i) {
    fds.push_back(raw_connect(port));
    REQUIRE(write(fds.back(), h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  }
  REQUIRE(run_until(&loop, [&] { return b->t->stats().handshakes_refused == 60; }));
  for (int fd : fds) ::close(fd);
  CHECK(b->t->stats().handshakes_refused == 60);
  CHECK(refusal_lines() == 20);
  // A second later the next refusal is logged, with the count it skipped.
  run_for(&loop, 1050);
  int fd = raw_connect(port);
  REQUIRE(write(fd, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(&loop, [&] { return b->t->stats().handshakes_refused == 61; }));
  ::close(fd);
  CHECK(refusal_lines() == 21);
  CHECK(b->logged("wrong cluster id 99 (40 more refused connections were not logged)"));
  stop_all(&loop, {b.get()});
}
