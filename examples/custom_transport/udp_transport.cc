#include "udp_transport.h"

#include <cstring>
#include <vector>

namespace example {

namespace {

// "127.0.0.1:7000" -> sockaddr_in; IPv4 only, to keep the example short.
bool to_addr(const std::string& s, sockaddr_in* out) {
  auto colon = s.rfind(':');
  return colon != std::string::npos &&
         uv_ip4_addr(s.substr(0, colon).c_str(), std::atoi(s.c_str() + colon + 1), out) == 0;
}

// Each datagram starts with the sender's id (8 bytes, little-endian), so the
// receiver knows who sent it; the source address is checked against it.
constexpr std::size_t kHeader = 8;

}  // namespace

UdpTransport::UdpTransport(uv_loop_t* loop, synod::NodeId self, std::string listen,
                           std::vector<synod::Peer> peers)
    : loop_(loop), self_(self), listen_(std::move(listen)) {
  set_peers(peers);
}

synod::Status UdpTransport::start() {
  sockaddr_in addr{};
  if (!to_addr(listen_, &addr)) return synod::Status::invalid_config;
  socket_ = new uv_udp_t;
  uv_udp_init(loop_, socket_);
  socket_->data = this;
  if (uv_udp_bind(socket_, reinterpret_cast<const sockaddr*>(&addr), UV_UDP_REUSEADDR) != 0) {
    stop();
    return synod::Status::unavailable;
  }
  uv_udp_recv_start(
      socket_,
      [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
        static char scratch[65536];
        *buf = uv_buf_init(scratch, sizeof scratch);
      },
      [](uv_udp_t* s, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
        if (n > 0 && from)
          static_cast<UdpTransport*>(s->data)->on_datagram(from, buf->base,
                                                           static_cast<std::size_t>(n));
      });
  return synod::Status::ok;
}

void UdpTransport::stop() {
  if (!socket_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(socket_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_udp_t*>(h); });
  socket_ = nullptr;
}

void UdpTransport::set_peers(const std::vector<synod::Peer>& peers) {
  peers_.clear();
  for (const synod::Peer& p : peers) {
    sockaddr_in a{};
    if (p.id != self_ && to_addr(p.address, &a)) peers_[p.id.value] = a;
  }
}

synod::Status UdpTransport::send(synod::NodeId to, std::span<const std::uint8_t> frame) {
  auto it = peers_.find(to.value);
  if (!socket_ || it == peers_.end()) return synod::Status::unavailable;
  if (frame.size() + kHeader > 65000) return synod::Status::oversized;
  std::vector<char> datagram(kHeader + frame.size());
  for (int i = 0; i < 8; ++i) datagram[i] = static_cast<char>(self_.value >> (8 * i));
  std::memcpy(datagram.data() + kHeader, frame.data(), frame.size());
  uv_buf_t buf = uv_buf_init(datagram.data(), static_cast<unsigned>(datagram.size()));
  // Best effort: a datagram the kernel cannot take now is a lost message.
  uv_udp_try_send(socket_, &buf, 1, reinterpret_cast<const sockaddr*>(&it->second));
  return synod::Status::ok;
}

void UdpTransport::on_datagram(const sockaddr* from, const char* data, std::size_t n) {
  if (n < kHeader || !handler_) return;
  std::uint64_t id = 0;
  for (int i = 7; i >= 0; --i) id = (id << 8) | static_cast<unsigned char>(data[i]);
  auto it = peers_.find(id);
  const auto* in = reinterpret_cast<const sockaddr_in*>(from);
  // Strangers, and peers sending from an address not theirs, are ignored.
  if (it == peers_.end() || in->sin_port != it->second.sin_port ||
      in->sin_addr.s_addr != it->second.sin_addr.s_addr)
    return;
  handler_(synod::NodeId{id}, {reinterpret_cast<const std::uint8_t*>(data) + kHeader, n - kHeader});
}

}  // namespace example
