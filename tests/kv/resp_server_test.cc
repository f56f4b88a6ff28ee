// RespServer's reply records and client lifetimes: a reply record names its
// client with a plain pointer (no reference counting per request), so a
// client that closes with requests still unanswered must stay alive until
// the last answer, or until the server goes. Run under ASan/LSan these fail
// on a use after free or a leaked client; everywhere they check the answers
// that do reach a client.
#include "resp_server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace synod::kv {
namespace {

// Holds every request unanswered until the test answers it.
struct HoldingHandler final : RespHandler {
  std::vector<ReplyTo> held;
  std::vector<Op> ops;  // of each request handed over, in order
  void handle(const RequestRef& request, ReplyTo to) override {
    held.push_back(to);
    ops.push_back(request.op);
  }
};

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(s);
  return ntohs(a.sin_port);
}

int connect_to(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return s;
}

// Runs the loop until `done` or two seconds have passed.
bool run_until(uv_loop_t* loop, const std::function<bool()>& done) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    uv_run(loop, UV_RUN_NOWAIT);
    ::usleep(1000);
  }
  return true;
}

// Reads from s, running the loop meanwhile, until `bytes` bytes arrived.
std::string receive(uv_loop_t* loop, int s, std::size_t bytes) {
  std::string got;
  run_until(loop, [&] {
    char buf[64];
    ssize_t n = ::recv(s, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    return got.size() >= bytes;
  });
  return got;
}

constexpr std::string_view kSet = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
constexpr std::string_view kGet = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
constexpr std::string_view kWatch = "*2\r\n$5\r\nWATCH\r\n$1\r\nk\r\n";

// Sends all of `bytes` without blocking, running the loop meanwhile (the
// server reads what the socket cannot hold).
void send_running(uv_loop_t* loop, int s, std::string_view bytes) {
  std::size_t sent = 0;
  REQUIRE(run_until(loop, [&] {
    ssize_t n = ::send(s, bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT);
    if (n > 0) sent += static_cast<std::size_t>(n);
    return sent == bytes.size();
  }));
}

// Runs the loop for a while (what the server would hand over by then, it
// has).
void settle(uv_loop_t* loop) {
  for (int i = 0; i < 50; ++i) {
    uv_run(loop, UV_RUN_NOWAIT);
    ::usleep(1000);
  }
}

struct Fixture {
  uv_loop_t loop{};
  HoldingHandler handler;
  int port = free_port();
  std::unique_ptr<RespServer> server;

  Fixture() {
    uv_loop_init(&loop);
    server = std::make_unique<RespServer>(&loop, "127.0.0.1:" + std::to_string(port),
                                          ClientLimits{}, handler);
    std::string why;
    REQUIRE(server->start(&why) == Status::ok);
  }
  ~Fixture() {
    server->stop();
    uv_run(&loop, UV_RUN_DEFAULT);
    server.reset();
    uv_loop_close(&loop);
  }
  // A client that sent `bytes` in one write.
  int client_sent(std::string_view bytes) {
    int s = connect_to(port);
    REQUIRE(::write(s, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    return s;
  }
  // A client that sent `requests` SETs, all held by the handler.
  int client_with_held(std::size_t requests) {
    int s = connect_to(port);
    std::string bytes;
    for (std::size_t i = 0; i < requests; ++i) bytes += kSet;
    REQUIRE(::write(s, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    std::size_t want = handler.held.size() + requests;
    REQUIRE(run_until(&loop, [&] { return handler.held.size() == want; }));
    return s;
  }
};

}  // namespace

TEST_CASE("an answered request reaches its client, in request order") {
  Fixture f;
  int s = f.client_with_held(2);
  f.server->answer(f.handler.held[1], "+second\r\n");  // waits for the first
  f.server->answer(f.handler.held[0], "+first\r\n");
  CHECK(receive(&f.loop, s, 17) == "+first\r\n+second\r\n");
  ::close(s);
}

TEST_CASE("answers for a client that has gone are dropped, and free it at the last") {
  Fixture f;
  int s = f.client_with_held(3);
  ::close(s);
  REQUIRE(run_until(&f.loop, [&] { return f.server->clients() == 0; }));
  // The client's handle has closed; its three records still name it.
  f.server->answer(f.handler.held[0], "+OK\r\n");
  f.server->answer(f.handler.held[2], "+OK\r\n");
  f.server->answer(f.handler.held[1], "+OK\r\n");  // the last: frees the client
  f.server->answer(f.handler.held[1], "+OK\r\n");  // stale: ignored
  uv_run(&f.loop, UV_RUN_NOWAIT);
  // A new client gets the reused records and its own answers.
  int t = f.client_with_held(1);
  f.server->answer(f.handler.held[3], "+again\r\n");
  CHECK(receive(&f.loop, t, 8) == "+again\r\n");
  ::close(t);
}

TEST_CASE("a server destroyed with answers still owed to a closed client frees the client") {
  Fixture f;
  int s = f.client_with_held(2);
  ::close(s);
  REQUIRE(run_until(&f.loop, [&] { return f.server->clients() == 0; }));
  f.server->answer(f.handler.held[0], "+OK\r\n");
  // held[1] is never answered: ~RespServer frees the client (LSan checks).
}

TEST_CASE("a client closed by the server's stop() with requests unanswered") {
  Fixture f;
  int s = f.client_with_held(2);
  f.server->stop();
  uv_run(&f.loop, UV_RUN_DEFAULT);
  CHECK(f.server->clients() == 0);
  f.server->answer(f.handler.held[1], "+OK\r\n");
  ::close(s);
}

TEST_CASE("a pipelined write waits for the client's earlier reads, as a read for its writes") {
  // Otherwise a read confirmed in the Ready that commits the write would
  // see it: GET k, SET k v answering v.
  Fixture f;
  int s = f.client_sent(std::string(kGet) + std::string(kSet) + std::string(kGet));
  REQUIRE(run_until(&f.loop, [&] { return f.handler.held.size() == 1; }));
  settle(&f.loop);
  REQUIRE(f.handler.ops == std::vector<Op>{Op::get});  // the SET waits for the GET
  f.server->answer(f.handler.held[0], "$-1\r\n");
  REQUIRE(run_until(&f.loop, [&] { return f.handler.held.size() == 2; }));
  settle(&f.loop);
  CHECK(f.handler.ops == std::vector<Op>{Op::get, Op::set});  // the second GET waits for it
  f.server->answer(f.handler.held[1], "+OK\r\n");
  REQUIRE(run_until(&f.loop, [&] { return f.handler.held.size() == 3; }));
  f.server->answer(f.handler.held[2], "$1\r\nv\r\n");
  CHECK(receive(&f.loop, s, 17) == "$-1\r\n+OK\r\n$1\r\nv\r\n");
  ::close(s);
}

TEST_CASE("a write after WATCH waits for the watched versions to be read") {
  // WATCH k, SET k v, MULTI, ..., EXEC must abort, as in Redis: the WATCH
  // must not read the version the client's own later SET made.
  Fixture f;
  int s = f.client_sent(std::string(kWatch) + std::string(kSet));
  REQUIRE(run_until(&f.loop, [&] { return f.handler.held.size() == 1; }));
  settle(&f.loop);
  REQUIRE(f.handler.ops == std::vector<Op>{Op::watch_versions});
  f.server->answer(f.handler.held[0], "*1\r\n:7\r\n");  // k at version 7
  REQUIRE(run_until(&f.loop, [&] { return f.handler.held.size() == 2; }));
  CHECK(f.handler.ops == std::vector<Op>{Op::watch_versions, Op::set});
  f.server->answer(f.handler.held[1], "+OK\r\n");
  CHECK(receive(&f.loop, s, 10) == "+OK\r\n+OK\r\n");
  ::close(s);
}

TEST_CASE("a request's arguments count against the pending limit with their overhead") {
  // Two MGETs of 600 000 empty keys: no argument bytes, but 19 MB each
  // held as strings. Reading pauses at 32 MiB pending, as for large values,
  // and resumes once they are answered.
  Fixture f;
  std::string mget = "*600001\r\n$4\r\nMGET\r\n";
  for (int i = 0; i < 600000; ++i) mget += "$0\r\n\r\n";
  int s = connect_to(f.port);
  send_running(&f.loop, s, mget + mget);  // 7 MB: more than the socket takes at once
  REQUIRE(run_until(&f.loop, [&] { return f.handler.held.size() == 2; }));
  // A read, which the MGETs in flight would not hold back (a write would
  // wait for them anyway).
  REQUIRE(::write(s, kGet.data(), kGet.size()) == static_cast<ssize_t>(kGet.size()));
  settle(&f.loop);
  CHECK(f.handler.held.size() == 2);  // paused: the GET is not read
  f.server->answer(f.handler.held[0], "*0\r\n");
  f.server->answer(f.handler.held[1], "*0\r\n");
  CHECK(run_until(&f.loop, [&] { return f.handler.held.size() == 3; }));
  ::close(s);
}

}  // namespace synod::kv
