// libuv TCP transport: implements synod::Transport on a uv_loop_t the host
// owns. One connection per peer pair (the lower id dials; the higher id
// knocks, to have it dial at once after a restart), a handshake with
// cluster id and node ids (strangers are refused, counted and logged),
// length-prefixed frames, reconnect with exponential backoff, and a byte
// bound on each peer's write queue (beyond it frames are dropped and counted:
// Paxos tolerates loss, memory must not grow without limit). Frames sent
// during one loop iteration go out together, one write per peer, just before
// the loop polls again (a prepare handle); frames queued while a write is in
// flight go out together in the next write.
//
// Security (docs/transport-tls.md): with `tls` set, every connection is
// mutual TLS 1.3 and a peer is accepted only when its certificate chains to
// the cluster CA and names the node id it claims. WITHOUT TLS NOTHING IS
// AUTHENTICATED: anyone who can reach the port and knows the cluster id
// (it travels in clear) can pose as a member and inject messages. Without
// TLS the transport only limits the damage: a claim for a node whose link is
// busy is refused, unintroduced connections time out, and their number is
// capped per address and in total.
//
// Threading: every call on the loop's thread. Lifetime: call stop(), then run
// the loop until it has no more work before destroying the transport; every
// handle is freed in its close callback, so uv_loop_close() then returns 0.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synod/tls_options.h"
#include "synod/transport.h"

namespace synod {

class TlsContext;

struct TcpTransportOptions {
  NodeId self{};
  std::uint64_t cluster_id = 0;
  std::string listen_address;                 // "host:port"; IPv4 or [IPv6]
  std::vector<Peer> peers;                    // every other member; this node excluded
  std::uint32_t frame_bytes_max = 16u << 20;  // a longer frame closes the link
  std::uint64_t queue_bytes_max = 64u << 20;  // per peer, queued and unsent
  // While a peer is unreachable, dials (and knocks) are retried after a wait
  // that doubles from min to max.
  std::uint64_t reconnect_min_ms = 20;
  std::uint64_t reconnect_max_ms = 2000;
  // Mutual TLS 1.3 when a certificate is given; loaded at start().
  TlsOptions tls;
  // A connection not introduced (TLS and hello done) within this is closed.
  std::uint64_t handshake_timeout_ms = 2000;
  // Unintroduced inbound connections: at most this many per remote IP (plus
  // one for each configured peer on that IP, so a cluster run on one host
  // can start at once), and this many in all (connections from a configured
  // peer's IP do not count against the total, so strangers cannot lock a
  // member out).
  std::size_t pending_per_address_max = 4;
  std::size_t pending_total_max = 64;
  // Without TLS a new connection claiming a node id replaces that node's
  // link only if the link received nothing for this long (a restarted peer
  // gets back in; a live one is not hijacked). With TLS a verified
  // certificate replaces the link at once.
  std::uint64_t replace_quiet_ms = 3000;
  // Where refusals and connection changes are reported; stderr when empty.
  std::function<void(std::string_view)> log;
};

// Connections refused before carrying frames, by reason; each is also logged
// with the remote address (at most 20 lines a second; the next line says how
// many were not).
struct TcpRefusals {
  std::uint64_t bad_hello = 0;             // not synod, version, cluster id, addressee
  std::uint64_t unknown_id = 0;            // hello from a node that is not a peer
  std::uint64_t tls_failed = 0;            // TLS handshake failed (no or bad certificate, ...)
  std::uint64_t certificate_mismatch = 0;  // certificate names another node (or none)
  std::uint64_t replacement_refused = 0;   // claimed a node whose link is busy (no TLS)
  std::uint64_t handshake_timeout = 0;     // not introduced within handshake_timeout_ms
  std::uint64_t per_address_cap = 0;       // pending_per_address_max reached
  std::uint64_t total_cap = 0;             // pending_total_max reached
};

struct TcpTransportStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t frames_dropped = 0;      // write queue over its bound
  std::uint64_t writes = 0;              // uv_write calls (frames_sent / writes = batching)
  std::uint64_t handshakes_refused = 0;  // the sum of `refused`
  TcpRefusals refused;
  std::uint64_t frames_oversized = 0;  // over frame_bytes_max: the connection closed
  std::uint64_t connects = 0;          // handshakes completed
  // Knocks (a hello from a higher id, which asks this node to dial it now;
  // docs/transport-tls.md, "Knocks"): those this node sent, and those it
  // received (each closed; it dials the knocker unless it holds a live link
  // to it or a dial is on its way; strangers' knocks count too).
  std::uint64_t knocks_sent = 0;
  std::uint64_t knocks_received = 0;
};

class TcpTransport final : public Transport {
 public:
  TcpTransport(uv_loop_t* loop, TcpTransportOptions options);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  void set_handler(Handler handler) override;
  // Loads the TLS files, binds and listens, starts dialing peers with
  // higher ids and knocks on those with lower ids. Returns invalid_config
  // for a bad address or TLS material that does not load (logged with the
  // file and OpenSSL's reason), unavailable when the bind fails.
  Status start() override;
  void stop() override;
  // Copies the frame into the peer's queue; every peer's queue is written
  // once per loop iteration, from a prepare handle just before the loop
  // polls. A frame sent from another prepare callback that runs after that
  // one in the same iteration waits for the next wakeup (a timer or I/O):
  // send from I/O, timer, idle or check callbacks, as the hosts do.
  Status send(NodeId to, std::span<const std::uint8_t> frame) override;
  void set_peers(const std::vector<Peer>& peers) override;

  bool connected(NodeId peer) const;
  TcpTransportStats stats() const { return stats_; }
  // The port actually bound (useful with port 0 in tests).
  int bound_port() const;

  struct Connection;
  struct Link;
  // For the read callback (internal).
  void close_from_read(Connection* c);
  void read_from(Connection* c, const std::uint8_t* data, std::size_t n);
  // For a link's reconnect timer (internal): dials or knocks on the peer.
  void redial(NodeId peer);

 private:
  friend struct Connection;
  enum class Refusal : std::uint8_t;
  void log(std::string_view line) const;
  void add_peer(const Peer& p);
  void remove_peer(NodeId id);
  void release(Link& link);
  void close(Connection* c);
  void read(Connection* c, const std::uint8_t* data, std::size_t n);
  void on_connected(Connection* c, int status);
  void on_written(Connection* c, int status);
  Link* link_of(Connection* c);
  void dial(Link& link);
  void schedule_reconnect(Link& link);
  void on_knock(Link& link, Connection* c);
  void send_hello(Connection* c);
  void on_inbound(uv_stream_t* server);
  void start_reading(Connection* c);
  std::size_t peers_at_ip(const std::string& ip) const;  // configured peers on it
  void refuse(Connection* c, Refusal reason, std::string_view why);
  void sweep();
  bool on_tls_established(Connection* c);
  bool on_hello(Connection* c);
  void process(Connection* c);
  void transmit(Connection* c, std::span<const std::uint8_t> plaintext);
  void pump(Connection* c);
  void attach(Link& link, Connection* c);
  void on_closed(Connection* c);
  void flush(Link& link);
  void flush_sent();
  void write(Connection* c, std::vector<std::uint8_t> bytes);

  uv_loop_t* loop_;
  TcpTransportOptions opt_;
  Handler handler_;
  uv_tcp_t* listener_ = nullptr;
  std::map<std::uint64_t, std::unique_ptr<Link>> links_;
  std::vector<Connection*> pending_;   // inbound, before the handshake
  std::unique_ptr<TlsContext> tls_;    // when opt_.tls is enabled, from start()
  uv_timer_t* sweep_timer_ = nullptr;  // closes connections past the handshake deadline
  // Active while sent_ is not empty: writes what this iteration sent.
  uv_prepare_t* flush_handle_ = nullptr;
  std::vector<std::uint64_t> sent_;  // peers with frames queued since the last flush_sent()
  bool running_ = false;
  TcpTransportStats stats_;
  // Refusal log lines in the current second, and refusals not logged since
  // the last line (refuse(): strangers can cause them at will).
  std::uint64_t refusal_window_ms_ = 0;
  std::uint64_t refusal_lines_ = 0;
  std::uint64_t refusals_unlogged_ = 0;
};

}  // namespace synod
