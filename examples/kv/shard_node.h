// A sharded synod-kv process (--shards N > 1, docs/kv.md "Shards"): one
// GroupHost running N Paxos groups (ids 1..N, every member a replica of
// each) over one TCP transport and one GroupLog, one KvStore per shard, the
// 16384 hash slots split by SlotMap, and the RESP front end. A key's command
// runs in its shard's group on the node that leads it; any other node
// answers -MOVED as Redis Cluster does, so cluster-aware clients follow.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "address_book.h"
#include "cluster_command.h"
#include "cluster_view.h"
#include "hash_slot.h"
#include "kv_store.h"
#include "resp_server.h"
#include "server_options.h"
#include "shard_router.h"
#include "synod/group_host.h"
#include "synod/group_log.h"
#include "synod/tcp_transport.h"

namespace synod::kv {

struct ShardNodeStats {
  std::uint64_t moved = 0;      // -MOVED answered: another node leads the shard
  std::uint64_t tryagain = 0;   // -TRYAGAIN answered: the shard has no leader yet
  std::uint64_t crossslot = 0;  // -CROSSSLOT answered: keys on several shards
};

class ShardNode {
 public:
  ShardNode(uv_loop_t* loop, ServerOptions options);
  ~ShardNode();
  bool start(std::string* why);
  void stop();
  bool failed() const { return host_ && host_->failed(); }

 private:
  bool open_log(std::string* why);
  GroupOptions group_options(std::size_t shard);
  void handle(Request request, RespServer::Reply reply);
  void handle_cluster(const ClusterCommand& c, const RespServer::Reply& reply);
  // The reply sending a client to the shard's leader (`hint` when the
  // replica named one, else the leader it knows): -MOVED, or -TRYAGAIN.
  std::string redirect(const ShardRoute& route, NodeId hint);
  ClusterView view() const;
  std::vector<InfoSection> info() const;
  GroupId group_of(std::size_t shard) const { return GroupId{shard + 1}; }

  uv_loop_t* loop_;
  ServerOptions opt_;
  SlotMap map_;
  std::vector<std::unique_ptr<KvStore>> stores_;  // index: shard (group - 1)
  KvStore no_logged_addresses_;                   // membership is not changed when sharded
  AddressBook book_{opt_, no_logged_addresses_};
  std::unique_ptr<GroupLog> log_;  // null with --memory
  std::unique_ptr<TcpTransport> transport_;
  std::unique_ptr<GroupHost> host_;
  std::unique_ptr<TlsContext> client_tls_;
  std::unique_ptr<RespServer> resp_;
  ShardNodeStats stats_;
  bool stopped_ = false;
};

}  // namespace synod::kv
