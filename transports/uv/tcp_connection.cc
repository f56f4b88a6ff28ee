// The connection side of TcpTransport: dialing with backoff, reading frames
// (through TLS when enabled) and writing queued bytes. The handshake (hello,
// certificates, limits, deadline) is in tcp_handshake.cc.
#include <fmt/format.h>

#include <cstring>

#include "tcp_frames.h"
#include "tcp_link.h"
#include "tls_context.h"

namespace synod {

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;

uv_stream_t* stream(TcpTransport::Connection* c) { return reinterpret_cast<uv_stream_t*>(&c->tcp); }

void alloc_cb(uv_handle_t* h, std::size_t, uv_buf_t* buf);
void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
}  // namespace

TcpTransport::Link* TcpTransport::link_of(Connection* c) {
  auto it = links_.find(c->peer.value);
  return it == links_.end() ? nullptr : it->second.get();
}

// The lower id dials the higher one, so each pair shares one connection.
// The higher id knocks: it connects and sends its hello only to ask the
// lower one to dial now, which answers by closing the knock (on_knock).
// Without it, a restarted node would wait for its lower-id peers' reconnect
// backoff, up to reconnect_max_ms, cut off from them.
void TcpTransport::dial(Link& link) {
  if (!running_ || !link.addr_ok || link.conn || link.dialing || link.timer) return;
  auto* c = new Connection;
  c->owner = this;
  c->peer = link.peer.id;
  c->outbound = true;
  c->knock = link.peer.id < opt_.self;
  if (c->knock) ++stats_.knocks_sent;
  c->remote = link.peer.address;
  c->started_ms = c->last_read_ms = uv_now(loop_);
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  c->connect_req.data = c;
  link.dialing = c;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, reinterpret_cast<const sockaddr*>(&link.addr),
                          [](uv_connect_t* req, int status) {
                            auto* conn = static_cast<Connection*>(req->data);
                            conn->owner->on_connected(conn, status);
                          });
  if (rc != 0) close(c);
}

// Connected: without TLS the hello goes at once; with TLS the handshake
// starts and the hello follows once the peer's certificate named c->peer.
void TcpTransport::on_connected(Connection* c, int status) {
  if (c->closing) return;
  if (status != 0) {
    close(c);
    return;
  }
  c->tcp_connected = true;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 10);
  start_reading(c);
  if (tls_) {
    c->tls = std::make_unique<TlsSession>(tls_->get(), TlsSession::Role::client);
    pump(c);
    return;
  }
  send_hello(c);
}

// The dialer's hello. A knock whose peer dialed us meanwhile is closed
// without it: a hello arriving after the peer's link formed would read as
// "it lost the link" (on_knock).
void TcpTransport::send_hello(Connection* c) {
  if (Link* link = link_of(c); c->knock && link && link->conn) {
    close(c);
    return;
  }
  transmit(c, tcp_wire::encode(
                  {tcp_wire::kMagic, tcp_wire::kVersion, opt_.cluster_id, opt_.self, c->peer}));
}

namespace {
// A link's reconnect timer fired: dial (or knock) again.
void on_reconnect_timer(uv_timer_t* t) {
  auto* timer = static_cast<TcpTransport::Link::Timer*>(t->data);
  uv_close(reinterpret_cast<uv_handle_t*>(t),
           [](uv_handle_t* h) { delete static_cast<TcpTransport::Link::Timer*>(h->data); });
  timer->owner->redial(timer->peer);
}
}  // namespace

void TcpTransport::schedule_reconnect(Link& link) {
  if (!running_ || link.timer) return;
  link.timer = new Link::Timer;
  link.timer->owner = this;
  link.timer->peer = link.peer.id;
  link.timer->handle.data = link.timer;
  uv_timer_init(loop_, &link.timer->handle);
  uv_timer_start(&link.timer->handle, on_reconnect_timer, link.backoff_ms, 0);
  link.backoff_ms = std::min(link.backoff_ms * 2, opt_.reconnect_max_ms);
}

void TcpTransport::redial(NodeId peer) {
  auto it = links_.find(peer.value);
  if (it == links_.end()) return;
  it->second->timer = nullptr;
  dial(*it->second);
}

// A higher id knocked (its hello on a connection it dialed): it has no link
// to us, most likely because it restarted. Close the knock and dial it now,
// whatever our backoff. A stranger's knock (without TLS) costs one dial of a
// configured peer, no more: the backoff is left as it is.
void TcpTransport::on_knock(Link& link, Connection* c) {
  ++stats_.knocks_received;
  const bool proven = c->cert_id.has_value();
  const std::uint64_t accepted_ms = c->started_ms;
  const std::uint64_t now = uv_now(loop_);
  close(c);
  if (Connection* live = link.conn) {
    // A leftover the peer has lost, dropped (and redialed) on the terms of a
    // replacement: at once with TLS, where the knock's certificate proved
    // the peer; without, only after replace_quiet_ms of silence, so a
    // stranger cannot break a live link. A knock accepted before the link
    // formed crossed our dial: it says nothing of this link (taking it for a
    // loss dropped new links again and again).
    if (accepted_ms <= live->introduced_ms) return;
    if (!proven && now - live->last_read_ms < opt_.replace_quiet_ms) return;
    log(fmt::format("node {} knocked: it lost our link; dialing it again", link.peer.id.value));
    close(live);  // on_closed redials after the backoff (reconnect_min_ms)
    return;
  }
  if (Connection* d = link.dialing) {
    // Our dial is on its way, or stuck on a connect that got no answer (the
    // peer's host rebooting): the peer is up now, so such a dial starts
    // again, at most once per reconnect_min_ms (knocks cannot keep a dial
    // from connecting).
    if (d->tcp_connected || now - d->started_ms < opt_.reconnect_min_ms) return;
    link.dialing = nullptr;
    close(d);
    dial(link);
    return;
  }
  if (link.timer)
    uv_timer_start(&link.timer->handle, on_reconnect_timer, 0, 0);  // restarts it
  else
    dial(link);
}

void TcpTransport::close(Connection* c) {
  if (!c || c->closing) return;
  c->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) {
    auto* conn = static_cast<Connection*>(h->data);
    conn->owner->on_closed(conn);
  });
}

// The handle is closed: forget the connection, and redial if it was ours.
void TcpTransport::on_closed(Connection* c) {
  std::erase(pending_, c);
  if (Link* link = link_of(c)) {
    if (link->conn == c) {
      link->conn = nullptr;
      log(fmt::format("lost connection to node {}", c->peer.value));
    }
    if (link->dialing == c) link->dialing = nullptr;
    // Ours to redial (or knock again): our dial or knock failed, or a link
    // closed, whoever had dialed it.
    if ((c->outbound || c->introduced) && !link->conn && !link->dialing) schedule_reconnect(*link);
  }
  delete c;
}

// Starts the one write in flight. Precondition: !c->writing.
//
// Tried at once first, without a request: a uv_write, even one that the
// socket takes whole at once, stops the POLLOUT interest it never started,
// and libuv turns that into an epoll_ctl at the next poll: a system call per
// peer per loop iteration beside the write itself (each one a trap this VM
// makes dear; docs/benchmarks.md, "Peer writes without a request"). What the
// socket does not take at once goes by uv_write, as before.
void TcpTransport::write(Connection* c, std::vector<std::uint8_t> bytes) {
  c->writing = true;
  c->wbuf = std::move(bytes);
  ++stats_.writes;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(c->wbuf.data()), static_cast<unsigned>(c->wbuf.size()));
  const int sent = uv_try_write(stream(c), &buf, 1);
  if (sent >= 0 && static_cast<std::size_t>(sent) == c->wbuf.size()) {
    // Complete: what the callback would do, now. It may start the next
    // write (bytes queued meanwhile), which recurses only while there are
    // bytes left, each time fewer.
    on_written(c, 0);
    return;
  }
  if (sent < 0 && sent != UV_EAGAIN) {
    c->writing = false;
    close(c);
    return;
  }
  const std::size_t done = sent > 0 ? static_cast<std::size_t>(sent) : 0;
  buf = uv_buf_init(reinterpret_cast<char*>(c->wbuf.data() + done),
                    static_cast<unsigned>(c->wbuf.size() - done));
  c->write_req.data = c;
  int rc = uv_write(&c->write_req, stream(c), &buf, 1, [](uv_write_t* req, int status) {
    auto* conn = static_cast<Connection*>(req->data);
    conn->owner->on_written(conn, status);
  });
  if (rc != 0) {
    c->writing = false;
    close(c);
  }
}

void TcpTransport::on_written(Connection* c, int status) {
  c->writing = false;
  if (status != 0 || c->closing) {
    close(c);
    return;
  }
  pump(c);  // handshake bytes and the hello go before frames
  if (Link* link = link_of(c); link && link->conn == c) flush(*link);
}

// Writes what waits in c->out (and, with TLS, in the session) unless a write
// is in flight; on_written calls again.
void TcpTransport::pump(Connection* c) {
  if (c->writing || c->closing) return;
  if (c->tls) c->tls->drain(&c->out);
  if (c->out.empty()) return;
  std::vector<std::uint8_t> bytes = std::move(c->wbuf);  // reuse its capacity
  bytes.clear();
  bytes.swap(c->out);
  write(c, std::move(bytes));
}

// Sends handshake plaintext (the hello) on c, encrypted when TLS is on.
void TcpTransport::transmit(Connection* c, std::span<const std::uint8_t> plaintext) {
  if (c->tls)
    c->tls->write(plaintext);
  else
    c->out.insert(c->out.end(), plaintext.begin(), plaintext.end());
  pump(c);
}

// Everything queued for the peer goes out in one write (with TLS: as the
// records of one SSL_write, in one write).
void TcpTransport::flush(Link& link) {
  Connection* c = link.conn;
  if (!c || c->writing || c->closing || link.queue.empty()) return;
  if (c->tls) {
    if (!c->tls->write(link.queue)) {
      log(fmt::format("node {} ({}): {}; closing", c->peer.value, c->remote, c->tls->error()));
      close(c);
      return;
    }
    link.queue.clear();
    pump(c);
    return;
  }
  std::vector<std::uint8_t> bytes;
  bytes.swap(link.queue);
  link.queue.swap(c->wbuf);  // reuse the last write's buffer
  link.queue.clear();
  write(c, std::move(bytes));
}

void TcpTransport::attach(Link& link, Connection* c) {
  if (link.conn && link.conn != c) {
    log(fmt::format("node {} reconnected from {}; dropping the old connection", link.peer.id.value,
                    c->remote));
    close(link.conn);
  }
  link.conn = c;
  if (link.dialing == c) link.dialing = nullptr;
  if (link.dialing && link.dialing->knock) close(link.dialing);  // it dialed us: moot
  link.backoff_ms = opt_.reconnect_min_ms;
  c->introduced = true;
  c->introduced_ms = uv_now(loop_);
  ++stats_.connects;
  std::erase(pending_, c);
  flush(link);
}

void TcpTransport::read(Connection* c, const std::uint8_t* data, std::size_t n) {
  c->last_read_ms = uv_now(loop_);
  if (!c->tls) {
    c->rbuf.insert(c->rbuf.end(), data, data + n);
  } else {
    bool ok = c->tls->feed(data, n, &c->rbuf);
    pump(c);  // handshake messages, or the alert of a failure
    if (!ok) {
      if (!c->introduced)
        refuse(c, Refusal::tls_failed, c->tls->error());
      else {
        log(fmt::format("node {} ({}): {}; closing", c->peer.value, c->remote, c->tls->error()));
        close(c);
      }
      return;
    }
    if (!c->tls->established()) return;
    if (!c->cert_id && !on_tls_established(c)) return;
  }
  process(c);
}

// Consumes the hello, then whole frames, from c->rbuf (plaintext).
void TcpTransport::process(Connection* c) {
  if (!c->introduced) {
    if (c->rbuf.size() - c->rpos < tcp_wire::kHelloBytes) return;
    if (!on_hello(c)) return;
  }
  while (!c->closing) {
    std::span<const std::uint8_t> frame;
    std::size_t used = 0;
    auto scan = tcp_wire::next_frame(std::span(c->rbuf).subspan(c->rpos), opt_.frame_bytes_max,
                                     &frame, &used);
    if (scan == tcp_wire::FrameScan::need_more) break;
    if (scan == tcp_wire::FrameScan::oversized) {
      ++stats_.frames_oversized;
      log(fmt::format("node {} ({}) sent a {}-byte frame (limit {}); closing", c->peer.value,
                      c->remote, used, opt_.frame_bytes_max));
      close(c);
      return;
    }
    c->rpos += used;
    ++stats_.frames_received;
    if (handler_) handler_(c->peer, frame);
  }
  if (c->closing) return;
  // Keep only the unconsumed tail.
  c->rbuf.erase(c->rbuf.begin(), c->rbuf.begin() + static_cast<std::ptrdiff_t>(c->rpos));
  c->rpos = 0;
}

namespace {

void alloc_cb(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  static thread_local std::vector<char> scratch(kReadChunk);
  (void)h;
  *buf = uv_buf_init(scratch.data(), static_cast<unsigned>(scratch.size()));
}

void read_cb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<TcpTransport::Connection*>(s->data);
  if (n < 0) {
    c->owner->close_from_read(c);
    return;
  }
  if (n > 0)
    c->owner->read_from(c, reinterpret_cast<const std::uint8_t*>(buf->base),
                        static_cast<std::size_t>(n));
}

}  // namespace

void TcpTransport::start_reading(Connection* c) { uv_read_start(stream(c), alloc_cb, read_cb); }
void TcpTransport::close_from_read(Connection* c) { close(c); }
void TcpTransport::read_from(Connection* c, const std::uint8_t* data, std::size_t n) {
  read(c, data, n);
}

}  // namespace synod
