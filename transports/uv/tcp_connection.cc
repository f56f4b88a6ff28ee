// The connection side of TcpTransport: dialing with backoff, accepting, the
// handshake, reading frames and writing queued bytes.
#include <fmt/format.h>

#include <cstring>

#include "tcp_link.h"

namespace synod {

namespace {
constexpr std::size_t kPendingMax = 64;  // inbound connections not yet introduced
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
void TcpTransport::dial(Link& link) {
  if (!running_ || !link.addr_ok || link.conn || link.dialing || link.timer) return;
  if (link.peer.id < opt_.self) return;  // it dials us
  auto* c = new Connection;
  c->owner = this;
  c->peer = link.peer.id;
  c->outbound = true;
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

void TcpTransport::on_connected(Connection* c, int status) {
  if (c->closing) return;
  if (status != 0) {
    close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 10);
  uv_read_start(stream(c), alloc_cb, read_cb);
  write(c, tcp_wire::encode(
               {tcp_wire::kMagic, tcp_wire::kVersion, opt_.cluster_id, opt_.self, c->peer}));
}

void TcpTransport::schedule_reconnect(Link& link) {
  if (!running_ || link.timer || link.peer.id < opt_.self) return;
  link.timer = new Link::Timer;
  link.timer->owner = this;
  link.timer->peer = link.peer.id;
  link.timer->handle.data = link.timer;
  uv_timer_init(loop_, &link.timer->handle);
  uv_timer_start(
      &link.timer->handle,
      [](uv_timer_t* t) {
        auto* timer = static_cast<Link::Timer*>(t->data);
        TcpTransport* self = timer->owner;
        auto it = self->links_.find(timer->peer.value);
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete static_cast<Link::Timer*>(h->data); });
        if (it == self->links_.end()) return;
        it->second->timer = nullptr;
        self->dial(*it->second);
      },
      link.backoff_ms, 0);
  link.backoff_ms = std::min(link.backoff_ms * 2, opt_.reconnect_max_ms);
}

void TcpTransport::on_inbound(uv_stream_t* server) {
  auto* c = new Connection;
  c->owner = this;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, stream(c)) != 0 || pending_.size() >= kPendingMax) {
    if (pending_.size() >= kPendingMax) log("refused a connection: too many unintroduced");
    pending_.push_back(c);
    close(c);
    return;
  }
  pending_.push_back(c);
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 10);
  uv_read_start(stream(c), alloc_cb, read_cb);
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
    if (c->outbound && !link->conn && !link->dialing) schedule_reconnect(*link);
  }
  delete c;
}

void TcpTransport::write(Connection* c, std::vector<std::uint8_t> bytes) {
  c->writing = true;
  c->wbuf = std::move(bytes);
  c->write_req.data = c;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(c->wbuf.data()), static_cast<unsigned>(c->wbuf.size()));
  ++stats_.writes;
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
  if (Link* link = link_of(c); link && link->conn == c) flush(*link);
}

// Everything queued for the peer goes out in one write.
void TcpTransport::flush(Link& link) {
  Connection* c = link.conn;
  if (!c || c->writing || c->closing || link.queue.empty()) return;
  std::vector<std::uint8_t> bytes;
  bytes.swap(link.queue);
  link.queue.swap(c->wbuf);  // reuse the last write's buffer
  link.queue.clear();
  write(c, std::move(bytes));
}

void TcpTransport::attach(Link& link, Connection* c) {
  if (link.conn && link.conn != c) {
    log(fmt::format("node {} reconnected; dropping the old connection", link.peer.id.value));
    close(link.conn);
  }
  link.conn = c;
  if (link.dialing == c) link.dialing = nullptr;
  link.backoff_ms = opt_.reconnect_min_ms;
  c->introduced = true;
  ++stats_.connects;
  std::erase(pending_, c);
  flush(link);
}

// Checks the peer's hello; false when the connection was refused.
bool TcpTransport::on_hello(Connection* c) {
  tcp_wire::Hello h = tcp_wire::decode(c->rbuf.data() + c->rpos);
  c->rpos += tcp_wire::kHelloBytes;
  std::string why;
  auto it = links_.find(h.from.value);
  if (h.magic != tcp_wire::kMagic)
    why = "not a synod peer";
  else if (h.version != tcp_wire::kVersion)
    why = fmt::format("unsupported version {}", h.version);
  else if (h.cluster != opt_.cluster_id)
    why = fmt::format("wrong cluster id {}", h.cluster);
  else if (h.to != opt_.self)
    why = fmt::format("addressed to node {}", h.to.value);
  else if (it == links_.end())
    why = fmt::format("unknown node id {}", h.from.value);
  else if (c->outbound && h.from != c->peer)
    why = fmt::format("answered as node {}", h.from.value);
  else if (!c->outbound && h.from > opt_.self)
    why = "wrong dial direction";
  if (!why.empty()) {
    ++stats_.handshakes_refused;
    log(fmt::format("refused connection from {}: {}", h.from.value, why));
    close(c);
    return false;
  }
  c->peer = h.from;
  if (!c->outbound)
    write(c, tcp_wire::encode(
                 {tcp_wire::kMagic, tcp_wire::kVersion, opt_.cluster_id, opt_.self, h.from}));
  log(fmt::format("connected to node {}", h.from.value));
  attach(*it->second, c);
  return true;
}

void TcpTransport::read(Connection* c, const std::uint8_t* data, std::size_t n) {
  c->rbuf.insert(c->rbuf.end(), data, data + n);
  if (!c->introduced) {
    if (c->rbuf.size() - c->rpos < tcp_wire::kHelloBytes) return;
    if (!on_hello(c)) return;
  }
  while (!c->closing && c->rbuf.size() - c->rpos >= 4) {
    std::uint32_t len = tcp_wire::get_u32(c->rbuf.data() + c->rpos);
    if (len > opt_.frame_bytes_max) {
      log(fmt::format("node {} sent a {}-byte frame (limit {}); closing", c->peer.value, len,
                      opt_.frame_bytes_max));
      close(c);
      return;
    }
    if (c->rbuf.size() - c->rpos - 4 < len) break;
    std::span<const std::uint8_t> frame(c->rbuf.data() + c->rpos + 4, len);
    c->rpos += 4 + len;
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

void TcpTransport::close_from_read(Connection* c) { close(c); }
void TcpTransport::read_from(Connection* c, const std::uint8_t* data, std::size_t n) {
  read(c, data, n);
}

}  // namespace synod
