// TcpTransport on loopback: connection, handshake refusals, reconnect, the
// write bound, framing across arbitrary splits, oversized and garbage input.
#include "synod/tcp_transport.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../../transports/uv/tcp_link.h"

using namespace synod;

namespace {

struct Received {
  NodeId from;
  std::string bytes;
};

struct Node {
  std::unique_ptr<TcpTransport> t;
  std::vector<Received> got;
  std::vector<std::string> logs;
};

std::unique_ptr<Node> make(uv_loop_t* loop, std::uint64_t id, std::string listen,
                           std::vector<Peer> peers, std::uint64_t cluster = 7,
                           std::uint64_t queue_max = 1 << 20) {
  auto n = std::make_unique<Node>();
  TcpTransportOptions o;
  o.self = NodeId{id};
  o.cluster_id = cluster;
  o.listen_address = std::move(listen);
  o.peers = std::move(peers);
  o.queue_bytes_max = queue_max;
  o.frame_bytes_max = 1 << 16;
  Node* raw = n.get();
  o.log = [raw](std::string_view l) { raw->logs.emplace_back(l); };
  n->t = std::make_unique<TcpTransport>(loop, o);
  n->t->set_handler([raw](NodeId from, std::span<const std::uint8_t> f) {
    raw->got.push_back({from, std::string(f.begin(), f.end())});
  });
  return n;
}

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Runs the loop until pred holds or about two seconds pass.
bool run_until(uv_loop_t* loop, const std::function<bool()>& pred) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(200);
  }
  return true;
}

void shutdown(uv_loop_t* loop, std::initializer_list<Node*> nodes) {
  for (Node* n : nodes) n->t->stop();
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(loop) == 0);
}

// A raw client socket, blocking, to play a misbehaving peer.
int raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

std::string hello(std::uint64_t cluster, std::uint64_t from, std::uint64_t to) {
  auto h =
      tcp_wire::encode({tcp_wire::kMagic, tcp_wire::kVersion, cluster, NodeId{from}, NodeId{to}});
  return std::string(h.begin(), h.end());
}

std::string framed(const std::string& payload) {
  std::string f(4, '\0');
  tcp_wire::put_u32(reinterpret_cast<std::uint8_t*>(f.data()),
                    static_cast<std::uint32_t>(payload.size()));
  return f + payload;
}

}  // namespace

TEST_CASE("two transports on loopback connect and carry frames both ways") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  std::string baddr = "127.0.0.1:" + std::to_string(b->t->bound_port());
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, baddr}});
  REQUIRE(a->t->start() == Status::ok);
  // Sent before the connection exists: queued, then delivered.
  CHECK(a->t->send(NodeId{2}, bytes("early")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
  CHECK(b->got[0].from == NodeId{1});
  CHECK(b->got[0].bytes == "early");
  for (int i = 0; i < 100; ++i) {
    std::string m = std::to_string(i);
    CHECK(b->t->send(NodeId{1}, bytes(m)) == Status::ok);
  }
  REQUIRE(run_until(&loop, [&] { return a->got.size() == 100; }));
  CHECK(a->got[99].bytes == "99");
  CHECK(b->t->stats().writes < 100);  // coalesced
  CHECK(a->t->send(NodeId{9}, bytes("x")) == Status::unavailable);
  shutdown(&loop, {a.get(), b.get()});
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
  bool logged_cluster = false, logged_unknown = false;
  for (auto& l : b->logs) {
    logged_cluster |= l.find("wrong cluster id 99") != std::string::npos;
    logged_unknown |= l.find("unknown node id 5") != std::string::npos;
  }
  CHECK(logged_cluster);
  CHECK(logged_unknown);
  CHECK(b->got.empty());
  shutdown(&loop, {b.get()});
}

TEST_CASE("the dialer reconnects after its peer restarts") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  std::string baddr = "127.0.0.1:" + std::to_string(b->t->bound_port());
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, baddr}});
  REQUIRE(a->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  b->t->stop();
  REQUIRE(run_until(&loop, [&] { return !a->t->connected(NodeId{2}); }));
  b = make(&loop, 2, baddr, {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  CHECK(a->t->send(NodeId{2}, bytes("again")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return b->got.size() == 1; }));
  CHECK(b->got[0].bytes == "again");
  shutdown(&loop, {a.get(), b.get()});
}

TEST_CASE("frames for an unreachable peer stop queueing at the byte bound") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, "127.0.0.1:1"}}, 7, 1000);
  REQUIRE(a->t->start() == Status::ok);
  std::string payload(96, 'x');
  int ok = 0, dropped = 0;
  for (int i = 0; i < 20; ++i)
    (a->t->send(NodeId{2}, bytes(payload)) == Status::ok ? ok : dropped)++;
  CHECK(ok == 10);  // 10 * (4 + 96) bytes fill the 1000-byte bound
  CHECK(dropped == 10);
  CHECK(a->t->stats().frames_dropped == 10);
  shutdown(&loop, {a.get()});
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
  shutdown(&loop, {b.get()});
}

TEST_CASE("an oversized frame or garbage hello closes the connection without delivery") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto b = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  REQUIRE(b->t->start() == Status::ok);
  int fd = raw_connect(b->t->bound_port());
  std::string s = hello(7, 1, 2) + std::string("\xff\xff\xff\x7f", 4) + "abc";
  REQUIRE(write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
  REQUIRE(run_until(&loop, [&] {
    for (auto& l : b->logs)
      if (l.find("limit") != std::string::npos) return true;
    return false;
  }));
  CHECK(b->got.empty());
  ::close(fd);
  fd = raw_connect(b->t->bound_port());
  std::string junk(64, 'Z');
  REQUIRE(write(fd, junk.data(), junk.size()) == 64);
  REQUIRE(run_until(&loop, [&] { return b->t->stats().handshakes_refused == 1; }));
  ::close(fd);
  CHECK(b->got.empty());
  shutdown(&loop, {b.get()});
}

TEST_CASE("a connected peer that stops reading makes frames drop at the byte bound") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Node 2 is a raw socket that answers the handshake, then never reads.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(listener, 1) == 0);
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto n1 = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, addr}}, 7, 1 << 20);
  REQUIRE(n1->t->start() == Status::ok);
  int peer = -1;
  REQUIRE(run_until(&loop, [&] {
    if (peer < 0) peer = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
    return peer >= 0;
  }));
  char hello_in[tcp_wire::kHelloBytes];
  REQUIRE(run_until(
      &loop, [&] { return recv(peer, hello_in, sizeof hello_in, MSG_PEEK) == sizeof hello_in; }));
  REQUIRE(recv(peer, hello_in, sizeof hello_in, 0) == sizeof hello_in);
  std::string h = hello(7, 2, 1);
  REQUIRE(write(peer, h.data(), h.size()) == static_cast<ssize_t>(h.size()));
  REQUIRE(run_until(&loop, [&] { return n1->t->connected(NodeId{2}); }));
  // Kernel buffers take a few MB; past them the queue fills to its bound and
  // further frames are refused and counted, never buffered without limit.
  std::string frame(60000, 'x');
  bool refused = false;
  for (int i = 0; i < 4000 && !refused; ++i) {
    refused = n1->t->send(NodeId{2}, bytes(frame)) == Status::overloaded;
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  CHECK(refused);
  CHECK(n1->t->stats().frames_dropped >= 1);
  ::close(peer);
  ::close(listener);
  shutdown(&loop, {n1.get()});
}

TEST_CASE("set_peers adds and drops peers, and redials a peer whose address changed") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Two processes claiming node 2 at different addresses (a member that
  // moved), and node 3, added later.
  auto old2 = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  auto new2 = make(&loop, 2, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  auto c = make(&loop, 3, "127.0.0.1:0", {{NodeId{1}, "127.0.0.1:1"}});
  for (Node* n : {old2.get(), new2.get(), c.get()}) REQUIRE(n->t->start() == Status::ok);
  auto addr = [](Node& n) { return "127.0.0.1:" + std::to_string(n.t->bound_port()); };
  auto a = make(&loop, 1, "127.0.0.1:0", {{NodeId{2}, addr(*old2)}});
  REQUIRE(a->t->start() == Status::ok);
  REQUIRE(run_until(&loop, [&] { return a->t->connected(NodeId{2}); }));
  CHECK(a->t->send(NodeId{3}, bytes("x")) == Status::unavailable);

  a->t->set_peers({{NodeId{2}, addr(*old2)}, {NodeId{3}, addr(*c)}});
  CHECK(a->t->connected(NodeId{2}));  // unchanged peers keep their connection
  CHECK(a->t->send(NodeId{3}, bytes("to 3")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return c->got.size() == 1; }));

  a->t->set_peers({{NodeId{2}, addr(*new2)}});
  CHECK(a->t->send(NodeId{3}, bytes("x")) == Status::unavailable);
  CHECK(a->t->send(NodeId{2}, bytes("moved")) == Status::ok);
  REQUIRE(run_until(&loop, [&] { return new2->got.size() == 1; }));
  CHECK(new2->got[0].bytes == "moved");
  CHECK(old2->got.empty());
  shutdown(&loop, {a.get(), old2.get(), new2.get(), c.get()});
}
