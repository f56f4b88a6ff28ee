#include "synod/tcp_transport.h"

#include <fmt/format.h>

#include <algorithm>

#include "synod/tcp_address.h"
#include "tcp_link.h"
#include "tls_context.h"

namespace synod {

using tcp_wire::put_u32;

TcpTransport::TcpTransport(uv_loop_t* loop, TcpTransportOptions options)
    : loop_(loop), opt_(std::move(options)) {
  for (const Peer& p : opt_.peers) add_peer(p);
}

TcpTransport::~TcpTransport() {
  // Handles must have been closed by stop() and the loop run; links left
  // here own no handles.
}

void TcpTransport::log(std::string_view line) const {
  if (opt_.log) {
    opt_.log(line);
    return;
  }
  fmt::print(stderr, "synod tcp [{}]: {}\n", opt_.self.value, line);
}

void TcpTransport::set_handler(Handler handler) { handler_ = std::move(handler); }

int TcpTransport::bound_port() const {
  if (!listener_) return -1;
  sockaddr_storage sa{};
  int len = sizeof sa;
  if (uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return -1;
  if (sa.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port);
}

Status TcpTransport::start() {
  if (running_) return Status::ok;
  sockaddr_storage addr{};
  std::string why;
  if (!parse_address(opt_.listen_address, &addr, &why)) {
    log(fmt::format("bad listen address '{}': {}", opt_.listen_address, why));
    return Status::invalid_config;
  }
  if (opt_.tls.enabled()) {
    tls_ = TlsContext::create(opt_.tls, &why);
    if (!tls_) {
      log("TLS: " + why);
      return Status::invalid_config;
    }
  }
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, [](uv_stream_t* s, int status) {
      if (status == 0) static_cast<TcpTransport*>(s->data)->on_inbound(s);
    });
  if (rc != 0) {
    log(fmt::format("cannot listen on {}: {}", opt_.listen_address, uv_strerror(rc)));
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
    return Status::unavailable;
  }
  running_ = true;
  sweep_timer_ = new uv_timer_t;
  uv_timer_init(loop_, sweep_timer_);
  sweep_timer_->data = this;
  // A quarter of the deadline: a silent connection lives at most 1.25 times it.
  std::uint64_t every = std::max<std::uint64_t>(opt_.handshake_timeout_ms / 4, 1);
  uv_timer_start(
      sweep_timer_, [](uv_timer_t* t) { static_cast<TcpTransport*>(t->data)->sweep(); }, every,
      every);
  flush_handle_ = new uv_prepare_t;
  uv_prepare_init(loop_, flush_handle_);
  flush_handle_->data = this;
  for (auto& [id, link] : links_) dial(*link);
  return Status::ok;
}

void TcpTransport::stop() {
  if (!running_) return;
  running_ = false;
  for (auto& [id, link] : links_) {
    release(*link);
    link->queue.clear();
    link->in_sent = false;
  }
  sent_.clear();
  if (flush_handle_) {
    uv_close(reinterpret_cast<uv_handle_t*>(flush_handle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
    flush_handle_ = nullptr;
  }
  for (Connection* c : std::vector<Connection*>(pending_)) close(c);
  if (sweep_timer_) {
    uv_close(reinterpret_cast<uv_handle_t*>(sweep_timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    sweep_timer_ = nullptr;
  }
  if (listener_) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
  }
}

bool TcpTransport::connected(NodeId peer) const {
  auto it = links_.find(peer.value);
  return it != links_.end() && it->second->conn != nullptr;
}

void TcpTransport::add_peer(const Peer& p) {
  if (p.id == opt_.self || links_.count(p.id.value)) return;
  auto link = std::make_unique<Link>();
  link->peer = p;
  std::string why;
  link->addr_ok = parse_address(p.address, &link->addr, &why);
  if (!link->addr_ok) log(fmt::format("peer {}: bad address '{}': {}", p.id.value, p.address, why));
  link->backoff_ms = opt_.reconnect_min_ms;
  Link& l = *link;
  links_[p.id.value] = std::move(link);
  if (running_) dial(l);
}

// A peer whose address changed is dropped and added again: its connection
// (to the old address) closes and dialing starts over.
void TcpTransport::set_peers(const std::vector<Peer>& peers) {
  std::vector<NodeId> gone;
  for (auto& [id, link] : links_) {
    // Not captured by the lambda: clang 14 cannot capture structured bindings.
    const Peer& current = link->peer;
    bool kept = std::any_of(peers.begin(), peers.end(), [&](const Peer& p) {
      return p.id == current.id && p.address == current.address;
    });
    if (!kept) gone.push_back(NodeId{id});
  }
  for (NodeId id : gone) remove_peer(id);
  for (const Peer& p : peers) add_peer(p);
}

void TcpTransport::remove_peer(NodeId id) {
  auto it = links_.find(id.value);
  if (it == links_.end()) return;
  release(*it->second);
  links_.erase(it);
}

// Closes the link's connections and timer; their memory is freed in the
// close callbacks.
void TcpTransport::release(Link& link) {
  close(link.conn);
  close(link.dialing);
  if (link.timer) {
    uv_close(reinterpret_cast<uv_handle_t*>(&link.timer->handle),
             [](uv_handle_t* h) { delete static_cast<Link::Timer*>(h->data); });
    link.timer = nullptr;
  }
}

Status TcpTransport::send(NodeId to, std::span<const std::uint8_t> frame) {
  auto it = links_.find(to.value);
  if (!running_ || it == links_.end()) return Status::unavailable;
  if (frame.size() > opt_.frame_bytes_max) return Status::oversized;
  Link& link = *it->second;
  if (link.queue.size() + 4 + frame.size() > opt_.queue_bytes_max) {
    ++stats_.frames_dropped;
    return Status::overloaded;
  }
  // Appended, not resized and then copied over: resize() would zero every
  // byte first (a memset of each frame, 6 % of a synod-kv leader's
  // instructions, docs/benchmarks.md).
  std::uint8_t length[4];
  put_u32(length, static_cast<std::uint32_t>(frame.size()));
  link.queue.insert(link.queue.end(), length, length + 4);
  link.queue.insert(link.queue.end(), frame.begin(), frame.end());
  ++stats_.frames_sent;
  // Written just before the loop polls, with every other frame this
  // iteration sends to the peer: a host that sends each group's messages as
  // its Ready loop produces them makes one write (one wakeup of the peer) per
  // peer per iteration, not one for the first frame and one for the rest.
  if (!link.in_sent) {
    link.in_sent = true;
    sent_.push_back(to.value);
    if (sent_.size() == 1)
      uv_prepare_start(flush_handle_,
                       [](uv_prepare_t* h) { static_cast<TcpTransport*>(h->data)->flush_sent(); });
  }
  return Status::ok;
}

void TcpTransport::flush_sent() {
  uv_prepare_stop(flush_handle_);
  std::vector<std::uint64_t> peers;
  peers.swap(sent_);
  for (std::uint64_t id : peers) {
    auto it = links_.find(id);
    if (it == links_.end()) continue;  // removed since
    it->second->in_sent = false;
    flush(*it->second);
  }
  peers.clear();
  if (sent_.empty()) sent_.swap(peers);  // keep the capacity
}

}  // namespace synod
