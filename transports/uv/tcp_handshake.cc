// The handshake side of TcpTransport (docs/transport-tls.md): admitting
// inbound connections under the pending caps, the handshake deadline, the
// TLS certificate's node id, the hello, and the refusals, each counted and
// logged with the remote address.
#include <fmt/format.h>

#include <cstring>

#include "synod/tcp_address.h"
#include "tcp_link.h"
#include "tls_context.h"
#include "tls_identity.h"

namespace synod {

namespace {

uv_stream_t* stream(TcpTransport::Connection* c) { return reinterpret_cast<uv_stream_t*>(&c->tcp); }

// The IP of an address, without the port, as text.
std::string ip_of(const sockaddr_storage& sa) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa.ss_family == AF_INET)
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&sa), buf, sizeof buf);
  else if (sa.ss_family == AF_INET6)
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&sa), buf, sizeof buf);
  return buf;
}

int port_of(const sockaddr_storage& sa) {
  if (sa.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&sa)->sin_port);
  if (sa.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_port);
  return 0;
}

}  // namespace

void TcpTransport::refuse(Connection* c, Refusal reason, std::string_view why) {
  TcpRefusals& r = stats_.refused;
  std::uint64_t* counter = nullptr;
  switch (reason) {
    case Refusal::bad_hello:
      counter = &r.bad_hello;
      break;
    case Refusal::unknown_id:
      counter = &r.unknown_id;
      break;
    case Refusal::tls_failed:
      counter = &r.tls_failed;
      break;
    case Refusal::certificate_mismatch:
      counter = &r.certificate_mismatch;
      break;
    case Refusal::replacement_refused:
      counter = &r.replacement_refused;
      break;
    case Refusal::handshake_timeout:
      counter = &r.handshake_timeout;
      break;
    case Refusal::per_address_cap:
      counter = &r.per_address_cap;
      break;
    case Refusal::total_cap:
      counter = &r.total_cap;
      break;
  }
  ++*counter;
  ++stats_.handshakes_refused;
  // Counted every time, logged at most kRefusalLinesPerSecond times a second:
  // a stranger can open connections as fast as the network allows, and each
  // refused one would otherwise be a line. The next line logged says how
  // many were not.
  constexpr std::uint64_t kRefusalLinesPerSecond = 20;
  const std::uint64_t now = uv_now(loop_);
  if (refusal_window_ms_ == 0 || now - refusal_window_ms_ >= 1000) {
    refusal_window_ms_ = now == 0 ? 1 : now;
    refusal_lines_ = 0;
  }
  if (refusal_lines_ < kRefusalLinesPerSecond) {
    ++refusal_lines_;
    std::string unlogged =
        refusals_unlogged_ == 0
            ? std::string()
            : fmt::format(" ({} more refused connections were not logged)", refusals_unlogged_);
    refusals_unlogged_ = 0;
    log(fmt::format("refused connection {} {}: {}{}", c->outbound ? "to" : "from", c->remote, why,
                    unlogged));
  } else {
    ++refusals_unlogged_;
  }
  close(c);
}

std::size_t TcpTransport::peers_at_ip(const std::string& ip) const {
  std::size_t n = 0;
  for (const auto& [id, link] : links_) n += link->addr_ok && ip_of(link->addr) == ip;
  return n;
}

void TcpTransport::on_inbound(uv_stream_t* server) {
  auto* c = new Connection;
  c->owner = this;
  c->started_ms = c->last_read_ms = uv_now(loop_);
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  pending_.push_back(c);  // on_closed forgets it
  if (uv_accept(server, stream(c)) != 0) {
    close(c);
    return;
  }
  sockaddr_storage sa{};
  int len = sizeof sa;
  if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    c->remote_ip = ip_of(sa);
    c->remote = sa.ss_family == AF_INET6 ? fmt::format("[{}]:{}", c->remote_ip, port_of(sa))
                                         : fmt::format("{}:{}", c->remote_ip, port_of(sa));
  } else {
    c->remote = c->remote_ip = "unknown address";
  }
  // Caps: this connection is already in pending_, hence the > comparisons.
  // An address gets one more room for each configured peer on it: the
  // members of a cluster run on one host all dial or knock at start, and
  // the cap is there for strangers, not for them.
  std::size_t same_ip = 0;
  for (Connection* p : pending_) same_ip += !p->outbound && p->remote_ip == c->remote_ip;
  std::size_t peers_here = peers_at_ip(c->remote_ip);
  std::size_t cap = opt_.pending_per_address_max + peers_here;
  if (same_ip > cap) {
    refuse(c, Refusal::per_address_cap,
           peers_here == 0
               ? fmt::format("{} unintroduced connections from this address (limit {})",
                             same_ip - 1, cap)
               : fmt::format("{} unintroduced connections from this address (limit {}: {} and "
                             "one for each of its {} configured peers)",
                             same_ip - 1, cap, opt_.pending_per_address_max, peers_here));
    return;
  }
  if (pending_.size() > opt_.pending_total_max && peers_here == 0) {
    refuse(c, Refusal::total_cap,
           fmt::format("{} unintroduced connections (limit {})", pending_.size() - 1,
                       opt_.pending_total_max));
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 10);
  if (tls_) c->tls = std::make_unique<TlsSession>(tls_->get(), TlsSession::Role::server);
  start_reading(c);
}

// Closes every connection still unintroduced past the handshake deadline:
// inbound ones and our own dials (a peer that accepts and stays silent),
// refused; our knocks, which wait for the peer to close them, quietly.
void TcpTransport::sweep() {
  std::uint64_t now = uv_now(loop_);
  auto late = [&](Connection* c) {
    return c && !c->closing && !c->introduced && now - c->started_ms >= opt_.handshake_timeout_ms;
  };
  std::vector<Connection*> expired;
  for (Connection* c : pending_)
    if (late(c)) expired.push_back(c);
  for (auto& [id, link] : links_) {
    Connection* d = link->dialing;
    if (!late(d)) continue;
    if (d->knock)
      close(d);  // a peer that accepts and stays silent (stopped?); knocked again later
    else
      expired.push_back(d);
  }
  for (Connection* c : expired)
    refuse(c, Refusal::handshake_timeout,
           fmt::format("no handshake within {} ms", opt_.handshake_timeout_ms));
}

// TLS is up and the peer's chain verified: the certificate must name a node
// of this cluster, and a dialed peer must be the node dialed. The dialer
// then sends its hello (inside TLS).
bool TcpTransport::on_tls_established(Connection* c) {
  std::optional<NodeId> id = node_named(c->tls->peer_uris(), opt_.cluster_id);
  if (!id) {
    refuse(c, Refusal::certificate_mismatch,
           fmt::format("its certificate names no node of cluster {} (no SAN URI "
                       "synod://{}/node/<id>)",
                       opt_.cluster_id, opt_.cluster_id));
    return false;
  }
  if (c->outbound && *id != c->peer) {
    refuse(
        c, Refusal::certificate_mismatch,
        fmt::format("dialed node {} but its certificate names node {}", c->peer.value, id->value));
    return false;
  }
  c->cert_id = id;
  if (c->outbound) send_hello(c);
  return !c->closing;
}

// Checks the peer's hello; false when the connection was refused.
bool TcpTransport::on_hello(Connection* c) {
  tcp_wire::Hello h = tcp_wire::decode(c->rbuf.data() + c->rpos);
  c->rpos += tcp_wire::kHelloBytes;
  std::string why;
  Refusal reason = Refusal::bad_hello;
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
    why = fmt::format("unknown node id {}", h.from.value), reason = Refusal::unknown_id;
  else if (c->cert_id && h.from != *c->cert_id)
    why = fmt::format("hello claims node {} but its certificate names node {}", h.from.value,
                      c->cert_id->value),
    reason = Refusal::certificate_mismatch;
  else if (c->outbound && h.from != c->peer)
    why = fmt::format("answered as node {}", h.from.value);
  else if (c->knock)
    why = "answered a knock with a hello";  // a lower id answers by closing
  if (why.empty() && !c->outbound && h.from > opt_.self) {
    on_knock(*it->second, c);  // a higher id asks us to dial it
    return false;
  }
  if (why.empty() && !c->tls) {
    // Unproven claim for a node with a live link: only a quiet link (its
    // peer likely restarted) may be replaced.
    Connection* live = it->second->conn;
    std::uint64_t quiet = uv_now(loop_) - (live ? live->last_read_ms : 0);
    if (live && live != c && quiet < opt_.replace_quiet_ms)
      why = fmt::format(
          "claims node {}, whose link received bytes {} ms ago (identity is not "
          "verified without TLS; replaced only after {} ms of silence)",
          h.from.value, quiet, opt_.replace_quiet_ms),
      reason = Refusal::replacement_refused;
  }
  if (!why.empty()) {
    refuse(c, reason, why);
    return false;
  }
  c->peer = h.from;
  if (!c->outbound)
    transmit(c, tcp_wire::encode(
                    {tcp_wire::kMagic, tcp_wire::kVersion, opt_.cluster_id, opt_.self, h.from}));
  log(fmt::format("connected to node {} ({}{})", h.from.value, c->remote, c->tls ? ", TLS" : ""));
  attach(*it->second, c);
  return true;
}

}  // namespace synod
