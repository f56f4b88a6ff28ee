// One synod-kv process: storage, TCP transport, libuv host, the key-value
// state machine and the RESP front end, wired together.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "kv_store.h"
#include "resp_server.h"
#include "server_options.h"
#include "synod/storage.h"
#include "synod/tcp_transport.h"
#include "synod/uv_host.h"

namespace synod::kv {

class KvNode {
 public:
  KvNode(uv_loop_t* loop, ServerOptions options);
  ~KvNode();
  bool start(std::string* why);
  void stop();
  bool failed() const { return host_ && host_->failed(); }

 private:
  void handle(Request request, RespServer::Reply reply);
  std::string refusal(const ProposeResult& r) const;
  std::string moved(NodeId leader) const;
  std::vector<InfoSection> info() const;

  uv_loop_t* loop_;
  ServerOptions opt_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<TcpTransport> transport_;
  std::unique_ptr<UvHost> host_;
  std::unique_ptr<RespServer> resp_;
  KvStore store_;
  bool stopped_ = false;
};

}  // namespace synod::kv
