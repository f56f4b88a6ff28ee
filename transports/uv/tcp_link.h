// Private to TcpTransport: the per-connection and per-peer state, and the
// handshake's fixed-size hello.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "synod/tcp_transport.h"
#include "tls_session.h"

namespace synod {

struct TcpTransport::Connection {
  TcpTransport* owner = nullptr;
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  NodeId peer{};  // known upfront when dialing, after the hello when accepting
  bool outbound = false;
  // Outbound to a lower id: a knock. It sends the hello only to ask that
  // peer to dial now, and is closed by it; it never carries frames.
  bool knock = false;
  bool introduced = false;  // handshake complete: frames may flow
  bool closing = false;
  bool tcp_connected = false;  // outbound: the TCP connect succeeded
  bool writing = false;        // Invariant: at most one uv_write in flight
  std::vector<std::uint8_t> rbuf;
  std::size_t rpos = 0;            // rbuf bytes already consumed
  std::vector<std::uint8_t> wbuf;  // the bytes of the write in flight
  // Bytes for the socket produced while a write was in flight (the hello,
  // TLS handshake messages): written, in order, after it.
  std::vector<std::uint8_t> out;
  std::unique_ptr<TlsSession> tls;  // null without TLS
  std::optional<NodeId> cert_id;    // TLS: the node its verified certificate names
  std::string remote;               // "ip:port" for logs
  std::string remote_ip;            // for the per-address cap
  std::uint64_t started_ms = 0;     // uv_now() when created: the handshake deadline
  std::uint64_t last_read_ms = 0;   // uv_now() of the last bytes received
  std::uint64_t introduced_ms = 0;  // uv_now() when it became its peer's link
};

// Why a connection was refused: one counter of TcpRefusals each.
enum class TcpTransport::Refusal : std::uint8_t {
  bad_hello,
  unknown_id,
  tls_failed,
  certificate_mismatch,
  replacement_refused,
  handshake_timeout,
  per_address_cap,
  total_cap,
};

struct TcpTransport::Link {
  Peer peer;
  sockaddr_storage addr{};
  bool addr_ok = false;
  Connection* conn = nullptr;  // introduced, carrying frames
  // Outbound, before the handshake: our dial of a higher id, or our knock
  // on a lower one (TcpTransport::dial).
  Connection* dialing = nullptr;
  // Framed bytes not yet written. Invariant: size() <= queue_bytes_max.
  std::vector<std::uint8_t> queue;
  bool in_sent = false;  // listed in TcpTransport::sent_
  std::uint64_t backoff_ms = 0;
  struct Timer {
    uv_timer_t handle{};
    TcpTransport* owner = nullptr;
    NodeId peer{};
  };
  Timer* timer = nullptr;
};

namespace tcp_wire {

// Handshake hello: magic, version, cluster id, from, to; little-endian.
constexpr std::uint32_t kMagic = 0x444e5953;  // "SYND"
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHelloBytes = 32;

inline void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Hello {
  std::uint32_t magic = kMagic;
  std::uint32_t version = kVersion;
  std::uint64_t cluster = 0;
  NodeId from{};
  NodeId to{};
};

inline std::vector<std::uint8_t> encode(const Hello& h) {
  std::vector<std::uint8_t> b(kHelloBytes);
  put_u32(b.data(), h.magic);
  put_u32(b.data() + 4, h.version);
  put_u64(b.data() + 8, h.cluster);
  put_u64(b.data() + 16, h.from.value);
  put_u64(b.data() + 24, h.to.value);
  return b;
}

// Precondition: at least kHelloBytes at p.
inline Hello decode(const std::uint8_t* p) {
  return Hello{get_u32(p), get_u32(p + 4), get_u64(p + 8), NodeId{get_u64(p + 16)},
               NodeId{get_u64(p + 24)}};
}

}  // namespace tcp_wire
}  // namespace synod
