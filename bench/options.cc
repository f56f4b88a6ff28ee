#include "options.h"

#include <fmt/format.h>

#include <charconv>
#include <functional>
#include <limits>
#include <string_view>

namespace synod::bench {

namespace {

bool to_u64(std::string_view s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

bool to_double(const std::string& s, double& out) {
  try {
    std::size_t used = 0;
    out = std::stod(s, &used);
    return used == s.size() && out >= 0;
  } catch (...) {
    return false;
  }
}

bool to_list(std::string_view s, std::vector<std::uint64_t>& out) {
  out.clear();
  while (!s.empty()) {
    std::size_t comma = s.find(',');
    std::uint64_t v = 0;
    if (!to_u64(s.substr(0, comma), v)) return false;
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return !out.empty();
}

template <typename T>
bool to_uint(const std::string& s, T& out) {
  std::uint64_t v = 0;
  if (!to_u64(s, v) || v > std::numeric_limits<T>::max()) return false;
  out = static_cast<T>(v);
  return true;
}

// One flag: its name, whether it takes a value, and what it sets.
struct Flag {
  std::string_view name;
  bool takes_value;
  std::function<bool(BenchOptions&, const std::string&)> set;
};

const std::vector<Flag>& flags() {
  static const std::vector<Flag> all = {
      {"transport", true,
       [](BenchOptions& o, const std::string& v) {
         if (v == "memory")
           o.transport = TransportKind::memory;
         else if (v == "tcp")
           o.transport = TransportKind::tcp;
         else
           return false;
         return true;
       }},
      {"replicas", true,
       [](BenchOptions& o, const std::string& v) {
         return to_uint(v, o.replicas) && (o.replicas == 3 || o.replicas == 5);
       }},
      {"value-bytes", true,
       [](BenchOptions& o, const std::string& v) { return to_uint(v, o.value_bytes); }},
      {"clients", true,
       [](BenchOptions& o, const std::string& v) {
         return to_uint(v, o.clients);  // 0: --groups only (check())
       }},
      {"outstanding", true,
       [](BenchOptions& o, const std::string& v) {
         return to_uint(v, o.outstanding) && o.outstanding > 0;
       }},
      {"batch-max", true,
       [](BenchOptions& o, const std::string& v) {
         return to_uint(v, o.batch_max) && o.batch_max > 0;
       }},
      {"inflight-max", true,
       [](BenchOptions& o, const std::string& v) {
         return to_uint(v, o.inflight_max) && o.inflight_max > 0;
       }},
      {"duration", true,
       [](BenchOptions& o, const std::string& v) {
         return to_double(v, o.duration_s) && o.duration_s > 0;
       }},
      {"warmup", true,
       [](BenchOptions& o, const std::string& v) { return to_double(v, o.warmup_s); }},
      {"commands", true,
       [](BenchOptions& o, const std::string& v) { return to_uint(v, o.commands); }},
      {"snapshot-every", true,
       [](BenchOptions& o, const std::string& v) { return to_uint(v, o.snapshot_every); }},
      {"compaction-tail", true,
       [](BenchOptions& o, const std::string& v) { return to_uint(v, o.compaction_tail); }},
      {"storage", true,
       [](BenchOptions& o, const std::string& v) {
         if (v == "memory")
           o.storage = StorageKind::memory;
         else if (v == "log")
           o.storage = StorageKind::log;
         else
           return false;
         return true;
       }},
      {"data-dir", true,
       [](BenchOptions& o, const std::string& v) {
         o.data_dir = v;
         return !v.empty();
       }},
      {"keep-data", false,
       [](BenchOptions& o, const std::string&) {
         o.keep_data = true;
         return true;
       }},
      {"apply-at-stage", false,
       [](BenchOptions& o, const std::string&) {
         o.apply_before_durable = true;
         return true;
       }},
      {"wire", false,
       [](BenchOptions& o, const std::string&) {
         o.wire = true;
         return true;
       }},
      {"prefault-mb", true,
       [](BenchOptions& o, const std::string& v) {
         if (v == "auto") return (o.prefault_mb = -1), true;
         std::uint64_t mb = 0;
         if (!to_uint(v, mb) || mb > (1ull << 40)) return false;
         o.prefault_mb = static_cast<std::int64_t>(mb);
         return true;
       }},
      {"tick-ms", true,
       [](BenchOptions& o, const std::string& v) {
         return to_uint(v, o.tick_ms) && o.tick_ms > 0;
       }},
      {"election-ticks", true,
       [](BenchOptions& o, const std::string& v) {
         return to_uint(v, o.election_ticks) && o.election_ticks > 1;
       }},
      {"repeat", true,
       [](BenchOptions& o, const std::string& v) { return to_uint(v, o.repeat) && o.repeat > 0; }},
      {"verbose", false,
       [](BenchOptions& o, const std::string&) {
         o.verbose = true;
         return true;
       }},
      {"json", true,
       [](BenchOptions& o, const std::string& v) {
         o.json_path = v;
         return !v.empty();
       }},
      {"sweep", true,
       [](BenchOptions& o, const std::string& v) {
         std::size_t eq = v.find('=');
         if (eq == std::string::npos) return false;
         o.sweep_name = v.substr(0, eq);
         BenchOptions probe;
         return set_by_name(probe, o.sweep_name, 1) &&
                to_list(std::string_view(v).substr(eq + 1), o.sweep_values);
       }},
      {"csv", true,
       [](BenchOptions& o, const std::string& v) {
         o.csv_path = v;
         return !v.empty();
       }},
      {"svg", true,
       [](BenchOptions& o, const std::string& v) {
         o.svg_path = v;
         return !v.empty();
       }},
      {"groups", true, [](BenchOptions& o, const std::string& v) { return to_uint(v, o.groups); }},
      {"probe", true, [](BenchOptions& o, const std::string& v) { return to_uint(v, o.probe); }},
      {"failover", false,
       [](BenchOptions& o, const std::string&) {
         o.failover = true;
         return true;
       }},
      // Hidden: set by the bench for its own replica processes.
      {"replica-mode", false,
       [](BenchOptions& o, const std::string&) {
         o.replica_mode = true;
         return true;
       }},
      {"node-id", true,
       [](BenchOptions& o, const std::string& v) {
         return to_uint(v, o.node_id) && o.node_id > 0;
       }},
      {"ports", true,
       [](BenchOptions& o, const std::string& v) {
         std::vector<std::uint64_t> list;
         if (!to_list(v, list)) return false;
         o.ports.clear();
         for (auto p : list) {
           if (p == 0 || p > 65535) return false;
           o.ports.push_back(static_cast<std::uint32_t>(p));
         }
         return true;
       }},
      {"cluster-id", true,
       [](BenchOptions& o, const std::string& v) { return to_uint(v, o.cluster_id); }},
      {"tls", false,
       [](BenchOptions& o, const std::string&) {
         o.tls = true;
         return true;
       }},
      {"tls-dir", true,
       [](BenchOptions& o, const std::string& v) {
         o.tls_dir = v;
         return !v.empty();
       }},
      {"run-dir", true,
       [](BenchOptions& o, const std::string& v) {
         o.run_dir = v;
         return !v.empty();
       }},
  };
  return all;
}

ParseResult check(const BenchOptions& o) {
  if (o.clients == 0 && o.groups == 0) return {false, false, "--clients 0 needs --groups"};
  if ((o.probe || o.failover) && o.groups == 0)
    return {false, false, "--probe and --failover need --groups"};
  if (o.storage == StorageKind::log && o.data_dir.empty() && o.run_dir.empty())
    return {false, false, "--storage log needs --data-dir DIR"};
  if (o.tls && o.transport != TransportKind::tcp)
    return {false, false, "--tls needs --transport tcp"};
  if (o.replica_mode && (o.node_id == 0 || o.ports.size() != o.replicas))
    return {false, false, "--replica-mode needs --node-id and one port per replica"};
  return {};
}

}  // namespace

ParseResult parse(int argc, char** argv, BenchOptions& out) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") return {true, true, {}};
    if (arg.rfind("--", 0) != 0)
      return {false, false, fmt::format("unexpected argument '{}'", arg)};
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (std::size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      inline_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags())
      if (f.name == name) flag = &f;
    if (!flag) return {false, false, fmt::format("unknown option --{} (see --help)", name)};
    if (flag->takes_value && !inline_value) {
      if (i + 1 >= argc) return {false, false, fmt::format("--{} needs a value", name)};
      value = argv[++i];
    }
    if (!flag->takes_value && inline_value)
      return {false, false, fmt::format("--{} takes no value", name)};
    if (!flag->set(out, value))
      return {false, false, fmt::format("bad value '{}' for --{} (see --help)", value, name)};
  }
  return check(out);
}

std::string usage() {
  return R"(synod-bench: committed proposals per second and their latency on this machine.

  --transport memory|tcp   memory: every replica in this process, messages passed
                           in memory; tcp: one process per replica on 127.0.0.1,
                           this process is the leader and runs the clients  [memory]
  --replicas 3|5           cluster size                                     [3]
  --value-bytes N          bytes per command                                [256]
  --clients N              closed-loop clients                              [16]
  --outstanding K          proposals each client keeps in flight            [16]
  --batch-max N            commands per slot at most (1: one per slot)      [1024]
  --inflight-max N         slots in flight past the commit index            [256]
  --duration S             measured seconds, after the warmup               [5]
  --warmup S               seconds run before measuring                     [1]
  --commands N             measure N committed commands instead of --duration
                           seconds (a long run: is memory flat?)            [0: off]
  --snapshot-every N       each replica snapshots its state machine and
                           compacts its log every N applied slots; 0: never,
                           so every command stays in memory                 [1000]
  --compaction-tail N      slots kept below a snapshot (Config::compaction_tail)
                                                                            [1000]
  --storage memory|log     in-memory storage, or the durable log (fdatasync) [memory]
  --data-dir DIR           where the log goes (a fresh subdirectory per run,
                           removed afterwards unless --keep-data)
  --apply-at-stage         tcp with --storage log: UvHostOptions::apply_before_durable
  --wire                   memory transport: encode and decode every message
  --tls                    tcp transport: mutual TLS 1.3 between the replicas
                           (certificates made for the run in a temp directory)
  --prefault-mb N|auto     heap to touch before the run, per process: without
                           compaction every command is fresh memory, and
                           first-touch page faults can cost more than synod
                           (docs/benchmarks.md)                             [0]
  --tick-ms N              replica tick                                     [10]
  --election-ticks N       election timeout in ticks                        [50]
  --repeat N               run N times; report each figure's median and the
                           spread of ops/s                                  [1]
  --json FILE              also write the results as JSON
  --sweep NAME=v1,v2,...   one run per value of clients, outstanding, batch-max,
                           inflight-max, value-bytes or replicas; writes a CSV and
                           an SVG throughput-latency plot
  --csv FILE, --svg FILE   sweep outputs      [synod-bench-sweep.csv / .svg]
  --groups N               N Paxos groups in each of the replica processes over
                           TCP (one GroupHost per process); group g's first
                           leader is node (g-1) % replicas + 1 and client k
                           proposes to group k % N + 1                 [0: one group]
  --clients 0              with --groups: idle groups (CPU and memory at rest)
  --probe N                with --groups: then N proposals, one at a time, each
                           to a sleeping group (commit latency)
  --failover               with --groups: then kill -9 of node 2 and the time
                           until every group has a leader again
  --verbose                log connections and replica processes
)";
}

std::vector<std::string> to_args(const BenchOptions& o) {
  std::vector<std::string> a = {
      "--transport",       std::string(to_string(o.transport)),
      "--replicas",        std::to_string(o.replicas),
      "--value-bytes",     std::to_string(o.value_bytes),
      "--batch-max",       std::to_string(o.batch_max),
      "--inflight-max",    std::to_string(o.inflight_max),
      "--storage",         std::string(to_string(o.storage)),
      "--tick-ms",         std::to_string(o.tick_ms),
      "--election-ticks",  std::to_string(o.election_ticks),
      "--snapshot-every",  std::to_string(o.snapshot_every),
      "--compaction-tail", std::to_string(o.compaction_tail),
  };
  if (!o.data_dir.empty()) a.insert(a.end(), {"--data-dir", o.data_dir});
  a.insert(a.end(), {"--prefault-mb", std::to_string(std::max<std::int64_t>(o.prefault_mb, 0))});
  if (o.verbose) a.push_back("--verbose");
  if (!o.tls_dir.empty()) a.insert(a.end(), {"--tls-dir", o.tls_dir});
  return a;
}

bool set_by_name(BenchOptions& o, const std::string& name, std::uint64_t v) {
  auto u32 = [&](std::uint32_t& f) {
    if (v == 0 || v > UINT32_MAX) return false;
    f = static_cast<std::uint32_t>(v);
    return true;
  };
  if (name == "clients") return u32(o.clients);
  if (name == "outstanding") return u32(o.outstanding);
  if (name == "batch-max") return u32(o.batch_max);
  if (name == "inflight-max") return u32(o.inflight_max);
  if (name == "value-bytes") return (o.value_bytes = v), true;
  if (name == "replicas") return (v == 3 || v == 5) && u32(o.replicas);
  return false;
}

std::uint64_t get_by_name(const BenchOptions& o, const std::string& name) {
  if (name == "clients") return o.clients;
  if (name == "outstanding") return o.outstanding;
  if (name == "batch-max") return o.batch_max;
  if (name == "inflight-max") return o.inflight_max;
  if (name == "value-bytes") return o.value_bytes;
  if (name == "replicas") return o.replicas;
  return 0;
}

std::string_view to_string(TransportKind t) {
  return t == TransportKind::memory ? "memory" : "tcp";
}
std::string_view to_string(StorageKind s) { return s == StorageKind::memory ? "memory" : "log"; }

}  // namespace synod::bench
