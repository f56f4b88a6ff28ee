// One synod-kv process: storage, TCP transport, libuv host, the key-value
// state machine and the RESP front end, wired together.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "address_book.h"
#include "cluster_admin.h"
#include "kv_store.h"
#include "resp_server.h"
#include "server_options.h"
#include "synod/log_storage.h"
#include "synod/storage.h"
#include "synod/tcp_transport.h"
#include "synod/uv_host.h"
#include "threaded_snapshot.h"

namespace synod::kv {

class KvNode final : private RespHandler {
 public:
  KvNode(uv_loop_t* loop, ServerOptions options);
  ~KvNode();
  bool start(std::string* why);
  void stop();
  bool failed() const { return host_ && host_->failed(); }

 private:
  bool open_storage(std::string* why);
  UvHostOptions host_options();
  // A client's request (RespHandler): answered here, or proposed, or read.
  void handle(const RequestRef& request, ReplyTo to) override;
  void addresses_maybe_changed();
  void host_log(std::string_view line);
  std::vector<InfoSection> info() const;
  void begin_snapshot(Slot slot);

  uv_loop_t* loop_;
  ServerOptions opt_;
  KvStore store_;
  AddressBook book_{opt_, store_};
  std::unique_ptr<Storage> storage_;
  LogStorage* log_ = nullptr;  // storage_ when it is the durable log (not --memory)
  std::unique_ptr<TcpTransport> transport_;
  std::unique_ptr<ClusterAdmin> admin_;
  std::unique_ptr<UvHost> host_;
  std::unique_ptr<TlsContext> client_tls_;  // --tls-clients
  std::unique_ptr<RespServer> resp_;
  ThreadedSnapshot snapshotter_{loop_, store_};
  std::uint64_t addresses_seen_ = 0;  // KvStore::addresses_version() last handled
  bool stopped_ = false;
  std::string stopped_reason_;  // the host's STOPPED line, with the storage error
};

}  // namespace synod::kv
