// --groups N: three (or five) processes on 127.0.0.1, each a GroupHost with
// the same N groups; group g's first leader is node (g - 1) % replicas + 1,
// and every process runs the clients of the groups it leads. This process is
// node 1: it starts the others, waits until every group has a leader, and
// then, by mode:
//   - clients > 0: SIGUSR1 starts every process's load at once; each writes
//     its window's figures to <run dir>/node-<id>.result; the aggregate is
//     their sum, with every process's CPU over the window;
//   - clients 0 (idle): waits until its groups sleep, then measures CPU and
//     resident memory of the three processes doing nothing;
//   - --probe N: then proposes to N sleeping groups it leads, one at a time,
//     and reports the commit latency;
//   - --failover: then kill -9 of node 2 (leading a third of the groups) and
//     the time until every group has a leader again as node 1 sees it.
#include "group_run.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "children.h"
#include "group_node.h"
#include "group_report.h"
#include "histogram.h"
#include "prefault.h"
#include "process_stats.h"
#include "run.h"

namespace synod::bench {

namespace {

// Runs the loop until pred() or the deadline; false on the deadline.
// Polls every every_ms (at least 1: a libuv timer with repeat 0 fires once).
bool run_until(uv_loop_t* loop, const std::function<bool()>& pred, double seconds,
               std::uint64_t every_ms = 10) {
  every_ms = std::max<std::uint64_t>(every_ms, 1);
  std::uint64_t end = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
  uv_timer_t poll{};
  uv_timer_init(loop, &poll);
  bool met = false;
  struct Ctx {
    const std::function<bool()>* pred;
    bool* met;
    std::uint64_t end;
  } ctx{&pred, &met, end};
  poll.data = &ctx;
  uv_timer_start(
      &poll,
      [](uv_timer_t* t) {
        auto* c = static_cast<Ctx*>(t->data);
        if ((*c->pred)() || now_ns() > c->end) {
          *c->met = (*c->pred)();
          uv_timer_stop(t);
        }
      },
      0, every_ms);
  while (uv_is_active(reinterpret_cast<uv_handle_t*>(&poll))) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return met;
}

double cpu_all(const std::vector<pid_t>& pids) {
  double cpu = self_usage().cpu_s;
  for (pid_t p : pids) cpu += pid_usage(p).cpu_s;
  return cpu;
}

std::string result_path(const std::string& run_dir, std::uint64_t id) {
  return fmt::format("{}/node-{}.result", run_dir, id);
}

class GroupsRun {
 public:
  GroupsRun(const BenchOptions& o, std::string run_dir)
      : o_(o), run_dir_(std::move(run_dir)), node_(&loop_, o, NodeId{1}, run_dir_) {
    uv_loop_init(&loop_);
  }
  ~GroupsRun() { uv_loop_close(&loop_); }
  GroupsReport run(std::uint64_t cluster_id, const std::vector<pid_t>& pids);

 private:
  void measure_load(const std::vector<pid_t>& pids);
  void measure_idle(const std::vector<pid_t>& pids);
  void probe();
  void failover(pid_t victim);
  void memory(const std::vector<pid_t>& pids);

  const BenchOptions& o_;
  std::string run_dir_;
  uv_loop_t loop_{};
  GroupNode node_;
  GroupsReport rep_;
};

void GroupsRun::memory(const std::vector<pid_t>& pids) {
  rep_.heap_bytes = heap_in_use();
  HeapFree free = heap_free();
  rep_.heap_free_chunks = free.chunks;
  rep_.heap_free_bytes = free.bytes;
  rep_.rss_bytes = {current_rss_bytes()};
  rep_.peak_rss_bytes = {self_usage().peak_rss_bytes};
  for (std::size_t k = 0; k < pids.size(); ++k) {
    pid_t p = pids[k];
    rep_.rss_bytes.push_back(current_rss_bytes(p));
    if (rep_.rss_bytes.back() == 0 && rep_.error.empty())
      rep_.error = fmt::format("node {} is gone (its stderr says why)", k + 2);
    rep_.peak_rss_bytes.push_back(pid_usage(p).peak_rss_bytes);
  }
  for (auto b : rep_.rss_bytes) rep_.rss_total += b;
  for (auto b : rep_.peak_rss_bytes) rep_.peak_rss_total += b;
  rep_.rss_per_group =
      static_cast<double>(rep_.rss_total) / static_cast<double>(o_.groups * rep_.rss_bytes.size());
}

void GroupsRun::measure_load(const std::vector<pid_t>& pids) {
  for (auto p : pids) kill(p, SIGUSR1);
  bool done = false;
  double cpu0 = 0, cpu1 = 0;
  std::uint64_t t0 = 0, t1 = 0;
  node_.start_load([&] { done = true; });
  // CPU over the same window as the load's: sampled at its edges.
  std::uint64_t begin = now_ns() + static_cast<std::uint64_t>(o_.warmup_s * 1e9);
  run_until(
      &loop_, [&] { return now_ns() >= begin; }, o_.warmup_s + 5, 1);
  cpu0 = cpu_all(pids);
  t0 = now_ns();
  run_until(
      &loop_, [&] { return done; }, o_.duration_s + 30, 1);
  cpu1 = cpu_all(pids);
  t1 = now_ns();
  rep_.cores_busy = (cpu1 - cpu0) / (static_cast<double>(t1 - t0) / 1e9);
  GroupNodeResult mine = node_.result();
  std::vector<GroupNodeResult> all{mine};
  // The others write theirs when their window closes (the same length).
  for (std::uint64_t id = 2; id <= o_.replicas; ++id) {
    GroupNodeResult r;
    bool read = run_until(
        &loop_,
        [&] {
          std::ifstream f(result_path(run_dir_, id));
          std::string line;
          return std::getline(f, line) && GroupNodeResult::from_line(line, r);
        },
        30, 20);
    if (!read) rep_.error = fmt::format("node {} wrote no result", id);
    all.push_back(r);
  }
  rep_.seconds = mine.seconds;
  for (const auto& r : all) {
    rep_.ops += r.ops;
    if (r.seconds > 0) rep_.ops_per_sec += static_cast<double>(r.ops) / r.seconds;
    rep_.failed += r.failed;
    rep_.refused += r.refused;
    if (o_.storage == StorageKind::log && r.seconds > 0)
      rep_.fdatasyncs_per_sec.push_back(static_cast<double>(r.log_batches) / r.seconds);
  }
  if (rep_.ops > 0) {
    double ops = static_cast<double>(rep_.ops);
    for (const auto& r : all) {
      rep_.cpu_us_per_op.push_back(r.cpu_s * 1e6 / ops);
      rep_.frames_per_op.push_back(static_cast<double>(r.frames_sent) / ops);
      rep_.writes_per_op.push_back(static_cast<double>(r.writes) / ops);
    }
  }
  rep_.p50_us = static_cast<double>(mine.p50_ns) / 1e3;
  rep_.p99_us = static_cast<double>(mine.p99_ns) / 1e3;
  memory(pids);
}

void GroupsRun::measure_idle(const std::vector<pid_t>& pids) {
  // Idle: every group this node holds asleep (an election timeout after the
  // last message), then a little more so the others settle too.
  if (!run_until(
          &loop_, [&] { return node_.host().stats().groups.sleeping == o_.groups; }, 120, 50))
    fmt::print(stderr, "synod-bench: only {} of {} groups sleep on node 1\n",
               node_.host().stats().groups.sleeping, o_.groups);
  run_until(
      &loop_, [] { return false; }, 1.0, 100);
  rep_.sleeping = node_.host().stats().groups.sleeping;
  std::uint64_t batches0 = node_.host().stats().log_batches;
  double cpu0 = cpu_all(pids);
  std::uint64_t t0 = now_ns();
  run_until(
      &loop_, [] { return false; }, o_.duration_s, 100);
  double cpu1 = cpu_all(pids);
  double secs = static_cast<double>(now_ns() - t0) / 1e9;
  rep_.seconds = secs;
  rep_.cores_busy = (cpu1 - cpu0) / secs;
  if (o_.storage == StorageKind::log)
    rep_.fdatasyncs_per_sec.push_back(
        static_cast<double>(node_.host().stats().log_batches - batches0) / secs);
  memory(pids);
}

// One proposal at a time, each to a sleeping group this node leads.
void GroupsRun::probe() {
  Histogram h;
  std::uint64_t led = 0, led_asleep = 0;
  for (std::uint64_t k = 1; k <= o_.groups; ++k) {
    std::optional<ReplicaInfo> i = node_.host().info(GroupId{k});
    if (!i || i->role != Role::leader) continue;
    ++led;
    if (node_.host().quiesced(GroupId{k})) ++led_asleep;
  }
  fmt::print(stderr, "synod-bench: node 1 leads {} groups, {} of them asleep\n", led, led_asleep);
  std::uint64_t g = 1;
  for (std::uint64_t s = 0; s < o_.probe && g <= o_.groups; ++g) {
    GroupId id{g};
    std::optional<ReplicaInfo> i = node_.host().info(id);
    if (!i || i->role != Role::leader) continue;
    if (!node_.host().quiesced(id)) {
      ++rep_.probe_skipped;
      continue;
    }
    bool done = false, ok = false;
    std::uint64_t t0 = now_ns(), t1 = 0;
    ProposeResult r = node_.host().propose(id, std::string(o_.value_bytes, 'p'),
                                           [&](const ProposalOutcome& out, const std::string&) {
                                             t1 = now_ns();
                                             done = true;
                                             ok = out.outcome == Outcome::committed;
                                           });
    if (!r.ok()) {
      ++rep_.probe_skipped;
      continue;
    }
    run_until(
        &loop_, [&] { return done; }, 5, 0);
    if (!done) {
      // The callback refers to this frame: nothing more can be measured.
      rep_.error = fmt::format("a probe proposal to group {} did not end within 5 s", g);
      break;
    }
    if (!ok) {
      ++rep_.probe_skipped;
      continue;
    }
    h.record(t1 - t0);
    ++s;
  }
  GroupSetStats st = node_.host().stats().groups;
  fmt::print(
      stderr,
      "synod-bench: after the probe: {} asleep; wakes needed {}, leader silent {}, restarted {}\n",
      st.sleeping, st.wakes_needed, st.wakes_leader_silent, st.wakes_leader_restarted);
  rep_.probe_samples = h.count();
  rep_.probe_p50_us = static_cast<double>(h.quantile(0.5)) / 1e3;
  rep_.probe_p99_us = static_cast<double>(h.quantile(0.99)) / 1e3;
}

void GroupsRun::failover(pid_t victim) {
  NodeId dead{2};
  rep_.failover_groups = 0;
  for (std::uint64_t g = 1; g <= o_.groups; ++g) {
    std::optional<ReplicaInfo> i = node_.host().info(GroupId{g});
    if (i && i->leader == dead) ++rep_.failover_groups;
  }
  std::uint64_t t0 = now_ns();
  kill(victim, SIGKILL);
  bool back = run_until(
      &loop_, [&] { return node_.unled(dead) == 0; }, 30, 10);
  if (back)
    rep_.failover_ms = static_cast<double>(now_ns() - t0) / 1e6;
  else
    rep_.error = fmt::format("{} groups had no leader 30 s after the kill", node_.unled(dead));
}

GroupsReport GroupsRun::run(std::uint64_t cluster_id, const std::vector<pid_t>& pids) {
  rep_.groups = o_.groups;
  rep_.processes = o_.replicas;
  std::string why;
  std::uint64_t start = now_ns();
  rep_.heap_before_groups = heap_in_use();
  if (!node_.start(cluster_id, &why)) {
    rep_.error = why;
  } else if (!run_until(
                 &loop_, [&] { return node_.unled() == 0; }, 120, 50)) {
    rep_.error = fmt::format("{} groups had no leader after 120 s", node_.unled());
  } else {
    rep_.elect_s = static_cast<double>(now_ns() - start) / 1e9;
    if (o_.clients > 0)
      measure_load(pids);
    else
      measure_idle(pids);
    if (o_.probe > 0) probe();
    if (o_.failover && pids.size() >= 1) failover(pids[0]);
  }
  node_.stop();
  uv_run(&loop_, UV_RUN_DEFAULT);
  return rep_;
}

}  // namespace

int run_groups(const BenchOptions& opts, const Context& c) {
  install_child_reaper();
  BenchOptions o = opts;
  o.transport = TransportKind::tcp;
  std::string why;
  if (!pick_ports(o.replicas, o.ports, &why)) {
    fmt::print(stderr, "synod-bench: {}\n", why);
    return 1;
  }
  // The run directory holds the result files (and the logs with --storage log).
  BenchOptions dir_opts = o;
  if (dir_opts.data_dir.empty()) dir_opts.data_dir = std::filesystem::temp_directory_path();
  std::string run_dir = make_run_dir(dir_opts, &why);
  if (run_dir.empty()) {
    fmt::print(stderr, "synod-bench: {}\n", why);
    return 1;
  }
  if (o.clients > 0) keep_heap();  // the replicas too (run_group_replica)
  std::uint64_t cluster_id = static_cast<std::uint64_t>(getpid()) << 16 | 1;
  std::string ports;
  for (auto p : o.ports) {
    if (!ports.empty()) ports += ",";
    ports += std::to_string(p);
  }
  std::vector<pid_t> pids;
  for (std::uint64_t id = 2; id <= o.replicas; ++id) {
    std::vector<std::string> args = to_args(o);
    args.insert(args.end(),
                {"--groups", std::to_string(o.groups), "--clients", std::to_string(o.clients),
                 "--outstanding", std::to_string(o.outstanding), "--duration",
                 fmt::format("{}", o.duration_s), "--warmup", fmt::format("{}", o.warmup_s),
                 "--replica-mode", "--node-id", std::to_string(id), "--ports", ports,
                 "--cluster-id", std::to_string(cluster_id), "--run-dir", run_dir});
    pid_t p = spawn_self(args, &why);
    if (p < 0) {
      stop_children(1000);
      fmt::print(stderr, "synod-bench: {}\n", why);
      return 1;
    }
    pids.push_back(p);
  }
  GroupsReport r;
  {
    GroupsRun run(o, run_dir);
    r = run.run(cluster_id, pids);
  }
  stop_children(2000);
  std::filesystem::remove_all(run_dir);
  fmt::print("{}", groups_text(o, r, c));
  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path, std::ios::trunc);
    f << groups_json(o, r, c) << "\n";
  }
  return r.error.empty() ? 0 : 1;
}

int run_group_replica(const BenchOptions& o) {
  // SIGUSR1 arrives blocked (spawn_self): unblocked once its handler is set.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  die_with_parent(0);
  prctl(PR_SET_NAME, fmt::format("synod-bench-g{}", o.node_id).c_str());
  // Under load, malloc keeps its heap (prefault.h, keep_heap); idle runs
  // measure resident memory, which a kept heap would only blur.
  if (o.clients > 0) keep_heap();
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    GroupNode node(&loop, o, NodeId{o.node_id}, o.run_dir);
    std::string why;
    uv_signal_t term{}, go{};
    uv_signal_init(&loop, &term);
    uv_signal_init(&loop, &go);
    struct Ctx {
      GroupNode* node;
      uv_signal_t* term;
      uv_signal_t* go;
      std::string path;
      bool verbose;
      std::uint64_t id;
    } ctx{&node, &term, &go, result_path(o.run_dir, o.node_id), o.verbose, o.node_id};
    term.data = go.data = &ctx;
    if (!node.start(o.cluster_id, &why)) {
      fmt::print(stderr, "synod-bench node {}: {}\n", o.node_id, why);
      rc = 1;
      node.stop();
      uv_close(reinterpret_cast<uv_handle_t*>(&term), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&go), nullptr);
    } else {
      uv_signal_start(
          &term,
          [](uv_signal_t* s, int) {
            auto* c = static_cast<Ctx*>(s->data);
            if (c->verbose) {
              GroupHostStats st = c->node->host().stats();
              fmt::print(stderr,
                         "synod-bench node {}: {} of {} groups asleep; wakes: needed {}, leader "
                         "silent {}, leader restarted {}; node heartbeats sent {} received {}\n",
                         c->id, st.groups.sleeping, st.groups.groups, st.groups.wakes_needed,
                         st.groups.wakes_leader_silent, st.groups.wakes_leader_restarted,
                         st.groups.node_heartbeats_sent, st.groups.node_heartbeats_received);
            }
            c->node->stop();
            uv_close(reinterpret_cast<uv_handle_t*>(c->term), nullptr);
            uv_close(reinterpret_cast<uv_handle_t*>(c->go), nullptr);
          },
          SIGTERM);
      // SIGUSR1: start this process's clients; write the result when done.
      uv_signal_start(
          &go,
          [](uv_signal_t* s, int) {
            auto* c = static_cast<Ctx*>(s->data);
            uv_signal_stop(s);
            c->node->start_load([c] {
              std::string tmp = c->path + ".tmp";
              {
                std::ofstream f(tmp, std::ios::trunc);
                f << c->node->result().to_line();
              }
              std::filesystem::rename(tmp, c->path);
            });
          },
          SIGUSR1);
      sigprocmask(SIG_UNBLOCK, &usr1, nullptr);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  return rc;
}

}  // namespace synod::bench
