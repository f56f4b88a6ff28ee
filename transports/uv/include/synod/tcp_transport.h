// libuv TCP transport: implements synod::Transport on a uv_loop_t the host
// owns. One connection per peer pair (the lower id dials), a handshake with
// cluster id and node ids (strangers are refused and logged), length-prefixed
// frames, reconnect with exponential backoff, and a byte bound on each peer's
// write queue (beyond it frames are dropped and counted: Paxos tolerates loss,
// memory must not grow without limit). Frames queued while a write is in
// flight go out together in the next write.
//
// Threading: every call on the loop's thread. Lifetime: call stop(), then run
// the loop until it has no more work before destroying the transport; every
// handle is freed in its close callback, so uv_loop_close() then returns 0.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "synod/transport.h"

namespace synod {

struct TcpTransportOptions {
  NodeId self{};
  std::uint64_t cluster_id = 0;
  std::string listen_address;                 // "host:port"; IPv4 or [IPv6]
  std::vector<Peer> peers;                    // every other member; this node excluded
  std::uint32_t frame_bytes_max = 16u << 20;  // a longer frame closes the link
  std::uint64_t queue_bytes_max = 64u << 20;  // per peer, queued and unsent
  std::uint64_t reconnect_min_ms = 20;
  std::uint64_t reconnect_max_ms = 2000;
  // Where refusals and connection changes are reported; stderr when empty.
  std::function<void(std::string_view)> log;
};

struct TcpTransportStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t frames_dropped = 0;  // write queue over its bound
  std::uint64_t writes = 0;          // uv_write calls (frames_sent / writes = batching)
  std::uint64_t handshakes_refused = 0;
  std::uint64_t connects = 0;  // handshakes completed
};

class TcpTransport final : public Transport {
 public:
  TcpTransport(uv_loop_t* loop, TcpTransportOptions options);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  void set_handler(Handler handler) override;
  // Binds and listens, and starts dialing peers with higher ids. Returns
  // invalid_config for a bad address, unavailable when the bind fails.
  Status start() override;
  void stop() override;
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

 private:
  friend struct Connection;
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
  void on_inbound(uv_stream_t* server);
  bool on_hello(Connection* c);
  void attach(Link& link, Connection* c);
  void on_closed(Connection* c);
  void flush(Link& link);
  void write(Connection* c, std::vector<std::uint8_t> bytes);

  uv_loop_t* loop_;
  TcpTransportOptions opt_;
  Handler handler_;
  uv_tcp_t* listener_ = nullptr;
  std::map<std::uint64_t, std::unique_ptr<Link>> links_;
  std::vector<Connection*> pending_;  // inbound, before the handshake
  bool running_ = false;
  TcpTransportStats stats_;
};

}  // namespace synod
