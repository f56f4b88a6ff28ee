// One process of a --groups run (bench/group_run.cc): a GroupHost with
// groups 1..N on the TCP transport, one GroupLog for all of them with
// --storage log, and this process's share of the closed-loop clients. Group
// g's first leader is node (g - 1) % replicas + 1 (it campaigns), and client
// k proposes to group k % N + 1, in the process that leads it; so leaders
// and clients are spread over the processes. Balancing is off: the
// placement is the bench's.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "load.h"
#include "options.h"
#include "synod/group_host.h"
#include "synod/group_log.h"
#include "synod/tcp_transport.h"

namespace synod::bench {

// What a process measured in its load window, as written to its result file.
struct GroupNodeResult {
  std::uint64_t ops = 0;
  double seconds = 0;
  std::uint64_t p50_ns = 0, p99_ns = 0;
  std::uint64_t log_batches = 0;  // GroupLog syncs in the window (fdatasyncs)
  std::uint64_t failed = 0, refused = 0;
  // This process in the window: CPU seconds (user + system), peer frames
  // sent and the writes that carried them (TcpTransportStats).
  double cpu_s = 0;
  std::uint64_t frames_sent = 0, writes = 0;
  std::string to_line() const;
  static bool from_line(const std::string& line, GroupNodeResult& out);
};

class GroupNode {
 public:
  GroupNode(uv_loop_t* loop, const BenchOptions& o, NodeId id, std::string run_dir);
  ~GroupNode();

  // Opens the log, starts the transport and the host, adds the groups and
  // campaigns in those this node places.
  bool start(std::uint64_t cluster_id, std::string* why);
  void stop();
  GroupHost& host() { return *host_; }
  // The node (group - 1) % replicas + 1 campaigns first in each group.
  NodeId placed_leader(GroupId group) const;
  // Groups with no leader known here, or led by `dead`.
  std::size_t unled(NodeId dead = NodeId{}) const;

  // Starts this process's clients now; the measured window follows the
  // warmup. Calls `done` once the window closed (result() is then final).
  void start_load(std::function<void()> done);
  GroupNodeResult result() const { return result_; }

 private:
  void issue(std::size_t r);
  void on_control();
  void log(std::string_view line) const;

  uv_loop_t* loop_;
  BenchOptions o_;  // clients: this process's share
  NodeId id_;
  std::string run_dir_;
  std::unique_ptr<GroupLog> log_;
  std::unique_ptr<TcpTransport> transport_;
  std::unique_ptr<GroupHost> host_;
  std::vector<std::uint64_t> applied_;  // per group: commands applied (the state machine)
  std::vector<GroupId> client_group_;   // this process's clients -> their group
  std::unique_ptr<Load> load_;
  std::vector<std::size_t> idle_;  // refused requests, retried on the control timer
  uv_timer_t* control_ = nullptr;
  std::function<void()> done_;
  bool measuring_ = false, finished_ = false;
  std::uint64_t batches_at_begin_ = 0;
  double cpu_at_begin_ = 0;
  TcpTransportStats transport_at_begin_;
  GroupNodeResult result_;
};

}  // namespace synod::bench
