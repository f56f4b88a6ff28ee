// synod-bench command line: what to run (transport, cluster size, storage),
// the load (closed-loop clients), the replica limits, and where to write
// results. parse() reads argv; to_args() writes the same options back, which
// the TCP mode uses to start its replica processes with identical settings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace synod::bench {

enum class TransportKind : std::uint8_t { memory, tcp };
enum class StorageKind : std::uint8_t { memory, log };

struct BenchOptions {
  TransportKind transport = TransportKind::memory;
  std::uint32_t replicas = 3;  // 3 or 5
  std::uint64_t value_bytes = 256;
  // Closed loop: each client keeps `outstanding` proposals in flight and
  // issues the next one as soon as one ends.
  std::uint32_t clients = 16;
  std::uint32_t outstanding = 16;
  std::uint32_t batch_max = 1024;    // Config::batch_count_max
  std::uint32_t inflight_max = 256;  // Config::max_inflight
  double duration_s = 5.0;           // measured, after the warmup
  double warmup_s = 1.0;
  // When non-zero, the measured window ends after this many committed
  // commands instead of after duration_s (long runs: memory held flat).
  std::uint64_t commands = 0;
  // Log compaction: each replica snapshots its state machine every this many
  // applied slots (Replica::compact); 0 never, so the log grows with the run.
  std::uint64_t snapshot_every = 1000;
  std::uint64_t compaction_tail = 1000;  // Config::compaction_tail, in slots
  StorageKind storage = StorageKind::memory;
  std::string data_dir;  // --storage log: runs go in <data_dir>/synod-bench-<pid>
  bool keep_data = false;
  // tcp, durable log: committed commands apply when their Ready is staged.
  bool apply_before_durable = false;
  // memory transport only: encode and decode every message with lib/wire.
  bool wire = false;
  // tcp transport only: mutual TLS between the replicas, with a CA and node
  // certificates made for the run in a temporary directory.
  bool tls = false;
  // Heap to grow and touch before the run, per process (prefault.h); 0:
  // none, -1 (auto): sized for the run at the rates this code reached.
  std::int64_t prefault_mb = 0;
  std::uint64_t tick_ms = 10;
  std::uint32_t election_ticks = 50;
  bool verbose = false;
  // Runs per configuration; the report gives the median of each figure.
  std::uint32_t repeat = 1;

  std::string json_path;
  // --sweep NAME=v1,v2,...: one run per value; CSV and SVG at the end.
  std::string sweep_name;
  std::vector<std::uint64_t> sweep_values;
  std::string csv_path = "synod-bench-sweep.csv";
  std::string svg_path = "synod-bench-sweep.svg";

  // --groups N: N Paxos groups per process over TCP, one GroupHost per
  // process (bench/group_run.cc); 0: the one-group runs above. With groups,
  // --clients 0 measures idle groups, --probe N the commit latency of N
  // proposals to sleeping groups, --failover a kill -9 of node 2.
  std::uint64_t groups = 0;
  std::uint64_t probe = 0;
  bool failover = false;

  // Hidden: a replica process of a TCP run (started by the bench itself).
  bool replica_mode = false;
  std::uint64_t node_id = 0;
  std::vector<std::uint32_t> ports;  // index i: node i + 1, on 127.0.0.1
  std::string run_dir;               // --storage log: this run's directory
  std::uint64_t cluster_id = 0;      // refuses peers of another run
  std::string tls_dir;               // --tls: ca.pem, node-<id>.pem and .key
};

struct ParseResult {
  bool ok = true;
  bool help = false;
  std::string error;
};

ParseResult parse(int argc, char** argv, BenchOptions& out);
std::string usage();

// The options that define a run, as arguments for a replica process.
std::vector<std::string> to_args(const BenchOptions& o);

// Sets a sweepable option by name; false for an unknown name.
bool set_by_name(BenchOptions& o, const std::string& name, std::uint64_t value);
// The same option's current value.
std::uint64_t get_by_name(const BenchOptions& o, const std::string& name);

std::string_view to_string(TransportKind t);
std::string_view to_string(StorageKind s);

}  // namespace synod::bench
