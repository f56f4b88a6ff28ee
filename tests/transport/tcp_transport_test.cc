// TcpTransport on loopback: connection, handshake refusals, reconnect, the
// write bound, framing across arbitrary splits, oversized and garbage input.
#include "synod/tcp_transport.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "tcp_test_support.h"

using namespace synod;
using namespace synod::test;

namespace {

std::unique_ptr<TcpNode> make(uv_loop_t* loop, std::uint64_t id, std::string listen,
                              std::vector<Peer> peers, std::uint64_t cluster = 7,
                              std::uint64_t queue_max = 1 << 20) {
  TcpTransportOptions o = node_options(id, std::move(listen), std::move(peers), cluster);
  o.queue_bytes_max = queue_max;
  return make_node(loop, o);
}

// Node 2 played by a raw socket: accepts node 1's dial on `listener`, reads
// its hello and answers with node 2's (cluster 7). Returns the socket, once
// node 1 counts node 2 connected.
int accept_as_node2(uv_loop_t* loop, int listener, TcpNode& n1) {
  int peer = -1;
  REQUIRE(run_until(loop, [&] {
    if (peer < 0) peer = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
    return peer >= 0;
  }));
  char hello_in[tcp_wire::kHelloBytes];
  REQUIRE(run_until(
      loop, [&] { return recv(peer, hello_in, sizeof hello_in, MSG_PEEK) == sizeof hello_in; }));
  REQUIRE(recv(peer, hello_in, sizeof hello_in, 0) == sizeof hello_in);
  std::string h = hello(7, 2, 1);
  REQUIRE(write(peer, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(loop, [&] { return n1.t->connected(NodeId{2}); }));
  return peer;
}

}  // namespace

TEST_CASE("two transports on loopback connect and carry frames both ways") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  std::string baddr = address_of(*b);
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, baddr}});
  REQUIRE(a->t->start() == Status::ok);
  // Sent before the connection exists: queued, then delivered.
  CHECK(a->t->send(NodeId{2}, as_bytes("early")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
  CHECK(b->got[0].from == NodeId{1});
  CHECK(b->got[0].bytes == "early");
  for (int i = 0; i < 100; ++i) {
    std::string m = std::to_string(i);
    CHECK(b->t->send(NodeId{1}, as_bytes(m)) == Status::ok);
  }
  REQUIRE(run_until(&loop, [&] { return a->got.size() == 100; }));
  CHECK(a->got[99].bytes == "99");
  CHECK(b->t->stats().writes < 100);  // coalesced
  CHECK(a->t->send(NodeId{9}, as_bytes("x")) == Status::unavailable);
  stop_all(&loop, {a.get(), b.get()});
}

// A host sends each group's messages as its Ready loop produces them: every
// frame of one loop iteration must leave in one write per peer, not the
// first at once and the rest in a second write (two wakeups of the peer).
TEST_CASE("frames sent in one loop iteration leave in one write per peer") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Node 1 dials both (the lower id dials); 2 and 3 only know node 1.
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  std::string baddr = address_of(*b);
  auto c = make(&loop, 3, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(c->t->start() == Status::ok);
  std::string caddr = address_of(*c);
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, baddr}, {NodeId{3}, caddr}});
  REQUIRE(a->t->start() == Status::ok);
  CHECK(a->t->send(NodeId{2}, as_bytes("hello")) == Status::ok);
  CHECK(a->t->send(NodeId{3}, as_bytes("hello")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1 && c->got.size() == 1; }));
  run_for(&loop, 20);  // the write callbacks ran: no write in flight
  std::uint64_t writes = a->t->stats().writes;
  std::uint64_t frames = a->t->stats().frames_sent;
  // One iteration's worth of sends, interleaved over two peers.
  for (int i = 0; i < 50; ++i) {
    std::string m = std::to_string(i);
    CHECK(a->t->send(NodeId{2}, as_bytes(m)) == Status::ok);
    CHECK(a->t->send(NodeId{3}, as_bytes(m)) == Status::ok);
  }
  CHECK(a->t->stats().writes == writes);  // nothing written before the iteration ends
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 51 && c->got.size() == 51; }));
  CHECK(a->t->stats().frames_sent - frames == 100);
  CHECK(a->t->stats().writes - writes == 2);  // one per peer
  CHECK(b->got[50].bytes == "49");
  CHECK(c->got[1].bytes == "0");
  stop_all(&loop, {a.get(), b.get(), c.get()});
}

TEST_CASE("a peer with the wrong cluster id or an unknown node id is refused") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  int port = b->t->bound_port();
  int fd = raw_connect(port);
  std::string h = hello(99, 1, 2);
  REQUIRE(write(fd, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(&loop, [&] { return b->t->stats().handshakes_refused == 1; }));
  ::close(fd);
  fd = raw_connect(port);
  h = hello(7, 5, 2);
  REQUIRE(write(fd, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(&loop, [&] { return b->t->stats().handshakes_refused == 2; }));
  ::close(fd);
  CHECK(b->logged("wrong cluster id 99"));
  CHECK(b->logged("unknown node id 5"));
  CHECK(b->got.empty());
  stop_all(&loop, {b.get()});
}

TEST_CASE("the dialer reconnects after its peer restarts") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  std::string baddr = address_of(*b);
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, baddr}});
  REQUIRE(a->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  b->t->stop();
  REQUIRE(run_until(&loop, [&] { return !a->t->connected(NodeId{2}); }));
  b = make(&loop, 2, baddr, {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  CHECK(a->t->send(NodeId{2}, as_bytes("again")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
  CHECK(b->got[0].bytes == "again");
  stop_all(&loop, {a.get(), b.get()});
}

TEST_CASE("frames for an unreachable peer stop queueing at the byte bound") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, "127.0.0.1:1"}}, 7, 1000);
  REQUIRE(a->t->start() == Status::ok);
  std::string payload(96, 'x');
  int ok = 0, dropped = 0;
  for (int i = 0; i < 20; ++i)
    (a->t->send(NodeId{2}, as_bytes(payload)) == Status::ok ? ok : dropped)++;
  CHECK(ok == 10);  // 10 * (4 + 96) bytes fill the 1000-byte bound
  CHECK(dropped == 10);
  CHECK(a->t->stats().frames_dropped == 10);
  stop_all(&loop, {a.get()});
}

TEST_CASE("frames split at every byte boundary arrive whole") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  int fd = raw_connect(b->t->bound_port());
  std::string stream = hello(7, 1, 2) + framed("alpha") + framed("") + framed("gamma-delta");
  for (char ch : stream) {
    REQUIRE(write(fd, &ch, 1) == 1);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 3; }));
  CHECK(b->got[0].bytes == "alpha");
  CHECK(b->got[1].bytes.empty());
  CHECK(b->got[2].bytes == "gamma-delta");
  ::close(fd);
  stop_all(&loop, {b.get()});
}

TEST_CASE("an oversized frame or garbage hello closes the connection without delivery") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  int fd = raw_connect(b->t->bound_port());
  std::string s = hello(7, 1, 2) + std::string("\xff\xff\xff\x7f", 4) + "abc";
  REQUIRE(write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
  REQUIRE(run_until(&loop, [&] { return b->logged("limit"); }));
  CHECK(b->got.empty());
  ::close(fd);
  fd = raw_connect(b->t->bound_port());
  std::string junk(64, 'Z');
  REQUIRE(write(fd, junk.data(), junk.size()) == 64);
  REQUIRE(run_until(&loop, [&] { return b->t->stats().handshakes_refused == 1; }));
  ::close(fd);
  CHECK(b->got.empty());
  stop_all(&loop, {b.get()});
}

TEST_CASE("a connected peer that stops reading makes frames drop at the byte bound") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Node 2 is a raw socket that answers the handshake, then never reads.
  std::string addr;
  int listener = raw_listener(1, &addr);
  auto n1 = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, addr}}, 7, 1 << 20);
  REQUIRE(n1->t->start() == Status::ok);
  int peer = accept_as_node2(&loop, listener, *n1);
  // Kernel buffers take a few MB; past them the queue fills to its bound and
  // further frames are refused and counted, never buffered without limit.
  std::string frame(60000, 'x');
  bool refused = false;
  for (int i = 0; i < 4000 && !refused; ++i) {
    refused = n1->t->send(NodeId{2}, as_bytes(frame)) == Status::overloaded;
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  CHECK(refused);
  CHECK(n1->t->stats().frames_dropped >= 1);
  ::close(peer);
  ::close(listener);
  stop_all(&loop, {n1.get()});
}

TEST_CASE("a write the socket takes only in part finishes later, every byte in order") {
  // Writes are tried at once (uv_try_write) and what the socket does not
  // take goes by uv_write from where the try stopped: a peer that reads
  // nothing for a while, then everything, must see each frame whole and in
  // order, and the transport counts none dropped.
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string addr;
  int listener = raw_listener(1, &addr);
  // A small receive buffer (the accepted socket inherits it), so that the
  // sender's socket fills after a few MB.
  int rcvbuf = 32 << 10;
  REQUIRE(setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
  auto n1 = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, addr}}, 7, 64 << 20);
  REQUIRE(n1->t->start() == Status::ok);
  int peer = accept_as_node2(&loop, listener, *n1);
  // Frames of different sizes and contents, more than the kernel buffers
  // hold, sent one loop iteration at a time while the peer reads nothing.
  std::string expected;
  for (int i = 0; i < 400; ++i) {
    std::string payload(1000 + 97 * i, static_cast<char>('a' + i % 26));
    payload[0] = static_cast<char>(i);
    REQUIRE(n1->t->send(NodeId{2}, as_bytes(payload)) == Status::ok);
    expected += framed(payload);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  REQUIRE(expected.size() > (6u << 20));  // past the socket buffers
  std::string got;
  char buf[1 << 16];
  REQUIRE(run_until(
      &loop,
      [&] {
        for (;;) {
          ssize_t n = recv(peer, buf, sizeof buf, 0);
          if (n <= 0) break;
          got.append(buf, static_cast<std::size_t>(n));
        }
        return got.size() >= expected.size();
      },
      30000));  // a generous bound: sanitizer builds are slow
  CHECK(got.size() == expected.size());
  CHECK(got == expected);
  CHECK(n1->t->stats().frames_dropped == 0);
  // Frames queued while a write was in flight (the socket full) left
  // together: fewer writes than frames.
  CHECK(n1->t->stats().writes < 400);
  ::close(peer);
  ::close(listener);
  stop_all(&loop, {n1.get()});
}

TEST_CASE("set_peers adds and drops peers, and redials a peer whose address changed") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Two processes claiming node 2 at different addresses (a member that
  // moved), and node 3, added later.
  auto old2 = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  auto new2 = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  auto c = make(&loop, 3, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  for (TcpNode* n : {old2.get(), new2.get(), c.get()}) REQUIRE(n->t->start() == Status::ok);
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, address_of(*old2)}});
  REQUIRE(a->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  CHECK(a->t->send(NodeId{3}, as_bytes("x")) == Status::unavailable);

  a->t->set_peers({{NodeId{2}, address_of(*old2)}, {NodeId{3}, address_of(*c)}});
  CHECK(a->t->connected(NodeId{2}));  // unchanged peers keep their connection
  CHECK(a->t->send(NodeId{3}, as_bytes("to 3")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return c->got.size() == 1; }));

  a->t->set_peers({{NodeId{2}, address_of(*new2)}});
  CHECK(a->t->send(NodeId{3}, as_bytes("x")) == Status::unavailable);
  CHECK(a->t->send(NodeId{2}, as_bytes("moved")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return new2->got.size() == 1; }));
  CHECK(new2->got[0].bytes == "moved");
  CHECK(old2->got.empty());
  stop_all(&loop, {a.get(), old2.get(), new2.get(), c.get()});
}
