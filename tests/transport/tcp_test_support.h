// Shared by the TCP transport tests (and, through uv_test_cluster.h, the
// libuv host tests): a transport that records what it receives and logs, a
// loop runner with a deadline, raw sockets to play strangers (plain or TLS),
// and the hello a stranger sends.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../../transports/uv/tcp_link.h"
#include "../../transports/uv/tls_session.h"
#include "synod/tcp_transport.h"

namespace synod::test {

struct Received {
  NodeId from;
  std::string bytes;
};

struct TcpNode {
  std::unique_ptr<TcpTransport> t;
  std::vector<Received> got;
  std::vector<std::string> logs;

  bool logged(const std::string& needle) const {
    for (const auto& l : logs)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
};

inline std::unique_ptr<TcpNode> make_node(uv_loop_t* loop, TcpTransportOptions o) {
  auto n = std::make_unique<TcpNode>();
  TcpNode* raw = n.get();
  o.log = [raw](std::string_view l) { raw->logs.emplace_back(l); };
  n->t = std::make_unique<TcpTransport>(loop, o);
  n->t->set_handler([raw](NodeId from, std::span<const std::uint8_t> f) {
    raw->got.push_back({from, std::string(f.begin(), f.end())});
  });
  return n;
}

inline TcpTransportOptions node_options(std::uint64_t id, std::string listen,
                                        std::vector<Peer> peers, std::uint64_t cluster = 7) {
  TcpTransportOptions o;
  o.self = NodeId{id};
  o.cluster_id = cluster;
  o.listen_address = std::move(listen);
  o.peers = std::move(peers);
  o.frame_bytes_max = 1 << 16;
  return o;
}

inline std::string address_of(const TcpNode& n) {
  return "127.0.0.1:" + std::to_string(n.t->bound_port());
}

inline std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Runs the loop until pred holds or `ms` pass.
inline bool run_until(uv_loop_t* loop, const std::function<bool()>& pred, int ms = 3000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(200);
  }
  return true;
}

inline void run_for(uv_loop_t* loop, int ms) {
  run_until(
      loop, [] { return false; }, ms);
}

// Stops the transports, runs the loop until their handles closed, and checks
// that nothing was left open on it.
inline void stop_all(uv_loop_t* loop, const std::vector<TcpNode*>& nodes) {
  for (TcpNode* n : nodes) n->t->stop();
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(loop) == 0);
}

// `n` loopback addresses with ports free a moment ago (bound on ephemeral
// ports on a loop of their own, then released), for tests where every node
// must know every other's address before any starts.
inline std::vector<std::string> free_addresses(std::size_t n) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::unique_ptr<TcpNode>> probes;
  std::vector<TcpNode*> raw;
  std::vector<std::string> addrs;
  for (std::size_t i = 1; i <= n; ++i) {
    probes.push_back(make_node(&loop, node_options(i, "127.0.0.1:0", {})));
    REQUIRE(probes.back()->t->start() == Status::ok);
    addrs.push_back(address_of(*probes.back()));
    raw.push_back(probes.back().get());
  }
  stop_all(&loop, raw);
  return addrs;
}

// A blocking client socket from `from_ip` (any 127.x.y.z works on Linux
// loopback, so tests can play several remote addresses).
inline int raw_connect(int port, const char* from_ip = nullptr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (from_ip) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, from_ip, &local.sin_addr);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// A blocking listening socket on a free loopback port, to play a peer that
// accepts and then misbehaves; *address is "127.0.0.1:port".
inline int raw_listener(int backlog, std::string* address) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd, backlog) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  *address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  return fd;
}

// True once the peer closed fd (recv sees end of stream or a reset).
inline bool peer_closed(int fd) {
  char b[256];
  ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

inline std::string hello(std::uint64_t cluster, std::uint64_t from, std::uint64_t to) {
  auto h =
      tcp_wire::encode({tcp_wire::kMagic, tcp_wire::kVersion, cluster, NodeId{from}, NodeId{to}});
  return std::string(h.begin(), h.end());
}

inline std::string framed(const std::string& payload) {
  std::string f(4, '\0');
  tcp_wire::put_u32(reinterpret_cast<std::uint8_t*>(f.data()),
                    static_cast<std::uint32_t>(payload.size()));
  return f + payload;
}

// A TLS client on a raw non-blocking socket, driven by pump(): plays a
// stranger with any certificate (or none), whose chain is not checked.
class TlsStranger {
 public:
  TlsStranger(int port, const std::string& cert_pem, const std::string& key_pem) {
    ctx_ = SSL_CTX_new(TLS_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    if (!cert_pem.empty()) {
      BIO* b = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
      X509* cert = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
      BIO_free(b);
      b = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
      EVP_PKEY* key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
      BIO_free(b);
      REQUIRE(SSL_CTX_use_certificate(ctx_, cert) == 1);
      REQUIRE(SSL_CTX_use_PrivateKey(ctx_, key) == 1);
      X509_free(cert);
      EVP_PKEY_free(key);
    }
    fd_ = raw_connect(port);
    fcntl(fd_, F_SETFL, O_NONBLOCK);
    session_ = std::make_unique<TlsSession>(ctx_, TlsSession::Role::client);
  }
  ~TlsStranger() {
    session_.reset();
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  void send(const std::string& plaintext) { session_->write(as_bytes(plaintext)); }
  // Moves bytes both ways; false once the connection is closed or failed.
  bool pump() {
    std::vector<std::uint8_t> out;
    session_->drain(&out);
    if (!out.empty() && ::write(fd_, out.data(), out.size()) < 0) closed_ = true;
    std::uint8_t buf[16384];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed_ = true;
    if (n > 0 && !session_->feed(buf, static_cast<std::size_t>(n), &plain_)) closed_ = true;
    return !closed_;
  }
  bool established() const { return session_->established(); }
  bool closed() const { return closed_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  std::unique_ptr<TlsSession> session_;
  std::vector<std::uint8_t> plain_;
  bool closed_ = false;
};

}  // namespace synod::test
