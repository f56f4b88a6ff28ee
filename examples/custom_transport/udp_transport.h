// A custom transport written from synod's public headers alone: each frame
// is one UDP datagram. It shows how small the Transport interface is; loss
// and reordering are fine, since Paxos tolerates both. Frames must fit in a
// datagram, so the host's Config::message_bytes_max stays below 60 KiB.
#pragma once

#include <uv.h>

#include <map>
#include <string>

#include "synod/transport.h"

namespace example {

class UdpTransport final : public synod::Transport {
 public:
  UdpTransport(uv_loop_t* loop, synod::NodeId self, std::string listen,
               std::vector<synod::Peer> peers);

  void set_handler(Handler handler) override { handler_ = std::move(handler); }
  synod::Status start() override;
  void stop() override;
  synod::Status send(synod::NodeId to, std::span<const std::uint8_t> frame) override;
  void set_peers(const std::vector<synod::Peer>& peers) override;

 private:
  void on_datagram(const sockaddr* from, const char* data, std::size_t n);

  uv_loop_t* loop_;
  synod::NodeId self_;
  std::string listen_;
  uv_udp_t* socket_ = nullptr;
  Handler handler_;
  std::map<std::uint64_t, sockaddr_in> peers_;  // id -> address
};

}  // namespace example
