// One replica of a TCP run on a libuv loop: its storage, the TCP transport
// on 127.0.0.1 and the ready-made UvHost. The leader process and each
// replica process build one of these. It applies to a BenchStateMachine and
// lets the host snapshot it every --snapshot-every slots, so the processes'
// logs are compacted as the memory transport's are.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "options.h"
#include "state_machine.h"
#include "synod/storage.h"
#include "synod/tcp_transport.h"
#include "synod/uv_host.h"

namespace synod::bench {

class UvReplica {
 public:
  UvReplica(uv_loop_t* loop, const BenchOptions& o, NodeId id, std::string run_dir);
  ~UvReplica();

  // Opens the storage, starts the transport and the host. `apply`, when
  // set, is called after the state machine applied each command.
  bool start(std::uint64_t cluster_id, std::function<std::string(Slot, std::string_view)> apply,
             std::string* why);
  // Stops the host and the transport; run the loop until idle afterwards.
  void stop();
  // Routine connection news are dropped from then on (peers are going away).
  void quiet() { quiet_ = true; }

  UvHost& host() { return *host_; }
  TcpTransport& transport() { return *transport_; }
  // Snapshots this replica handed to the host for compaction.
  std::uint64_t snapshots() const { return snapshots_; }

 private:
  void log(std::string_view line) const;

  uv_loop_t* loop_;
  const BenchOptions& o_;
  NodeId id_;
  std::string run_dir_;
  bool quiet_ = false;
  BenchStateMachine state_;
  std::uint64_t snapshots_ = 0;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<TcpTransport> transport_;
  std::unique_ptr<UvHost> host_;
};

}  // namespace synod::bench
