// A sharded synod-kv process (--shards N > 1, docs/kv.md "Shards"): one
// GroupHost running N Paxos groups (ids 1..N, every member a replica of
// each) over one TCP transport and one GroupLog, one KvStore per shard, the
// 16384 hash slots split by SlotMap, and the RESP front end. A key's command
// runs in its shard's group on the node that leads it; any other node
// answers -MOVED as Redis Cluster does, so cluster-aware clients follow.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
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
#include "shard_txns.h"
#include "synod/group_host.h"
#include "synod/group_log.h"
#include "synod/tcp_transport.h"

namespace synod::kv {

struct ShardNodeStats {
  std::uint64_t moved = 0;      // -MOVED answered: another node leads the shard
  std::uint64_t tryagain = 0;   // -TRYAGAIN answered: the shard has no leader yet
  std::uint64_t crossslot = 0;  // -CROSSSLOT answered: MSETNX over several shards
  // The lock wait (docs/kv.md, "Lock wait"): commands parked on a key a
  // prepared transaction locks, those that gave up after the bound, and
  // writes refused when they reached the log anyway (the same on every
  // replica).
  std::uint64_t lock_waits = 0;
  std::uint64_t lock_wait_timeouts = 0;
  std::uint64_t locked_refused = 0;
};

class ShardNode : private ShardTxnHost, private RespHandler {
 public:
  ShardNode(uv_loop_t* loop, ServerOptions options);
  ~ShardNode() override;
  bool start(std::string* why);
  void stop();
  bool failed() const { return host_ && host_->failed(); }

 private:
  bool open_log(std::string* why);
  GroupOptions group_options(std::size_t shard);
  // A client's request (RespHandler), copied and handed to handle() below:
  // the sharded server's path is not tuned for speed.
  void handle(const RequestRef& request, ReplyTo to) override;
  void handle(Request request, RespServer::Reply reply);
  void handle_cluster(const ClusterCommand& c, const RespServer::Reply& reply);
  // The reply sending a client to the shard's leader (`hint` when the
  // replica named one, else the leader it knows): -MOVED, or -TRYAGAIN.
  std::string redirect(const ShardRoute& route, NodeId hint);
  ClusterView view() const;
  std::vector<InfoSection> info() const;
  GroupId group_of(std::size_t shard) const { return GroupId{shard + 1}; }
  // The shard's apply hook: kv commands, and the commit protocol's entries.
  std::string apply(std::size_t shard, std::string_view command);

  // Cross-shard transactions (shard_node_txn.cc).
  void start_txns();
  void stop_txns();
  void handle_cross_shard(const Request& request, const ShardRoute& route,
                          const RespServer::Reply& reply);
  // The first key of `request` a prepared transaction holds in `shard`;
  // only looked for while the shard holds locks.
  std::optional<std::string> locked_key(std::size_t shard, const Request& request) const;
  // Parks the request until its keys are free or the bound passes.
  void wait_for_locks(Request request, RespServer::Reply reply, std::string key);
  void retry_waiters(bool expire);
  void run_deferred();
  // ShardTxnHost.
  NodeId self() const override { return opt_.id; }
  std::optional<Ballot> leading(txn::ShardId shard) const override;
  NodeId leader_of(txn::ShardId shard) const override;
  void propose(txn::ShardId shard, std::string entry, std::function<void(bool)> done) override;
  void send(NodeId to, std::string payload) override;
  void wake() override;

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

  std::unique_ptr<ShardTxns> txns_;
  uv_timer_t* txn_tick_ = nullptr;               // the protocol's clock, and the lock wait's bound
  uv_timer_t* txn_wake_ = nullptr;               // a later turn of the loop for ShardTxns::flush
  std::vector<std::function<void()>> deferred_;  // proposals' outcomes, for that turn
  struct Waiter {
    Request request;
    RespServer::Reply reply;
    std::string key;
    std::uint64_t deadline_ms = 0;
  };
  std::deque<Waiter> waiters_;
};

}  // namespace synod::kv
