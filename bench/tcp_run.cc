// --transport tcp: one process per replica on 127.0.0.1, as NuRaft's
// raft_bench runs it. This process is node 1: it starts the others
// (re-executing itself with --replica-mode), forces an election, and runs the
// closed-loop clients in-process against its own UvHost, so every proposal
// is encoded, framed, sent over loopback TCP and acknowledged by peer
// processes. At the end it reads every process's CPU time and peak RSS from
// /proc, then stops them all.
#include <fmt/format.h>
#include <malloc.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "children.h"
#include "prefault.h"
#include "process_stats.h"
#include "rss_track.h"
#include "run.h"
#include "tls_dir.h"
#include "uv_replica.h"

namespace synod::bench {

namespace {

RunResult failed_run(std::string why) {
  RunResult r;
  r.ok = false;
  r.error = std::move(why);
  return r;
}

constexpr std::uint64_t kElectionDeadlineMs = 120'000;  // replicas pre-fault first
constexpr std::uint64_t kControlMs = 5;                 // phase changes, progress, retries

class LeaderRun {
 public:
  LeaderRun(const BenchOptions& o, std::string run_dir)
      : o_(o), load_(o), node_(&loop_, o, NodeId{1}, std::move(run_dir)) {
    uv_loop_init(&loop_);
  }
  ~LeaderRun() { uv_loop_close(&loop_); }

  RunResult run(std::uint64_t cluster_id);

 private:
  void on_control();
  void wait_for_leadership(std::uint64_t now);
  void issue(std::size_t r, std::uint64_t now);
  void retry_idle(std::uint64_t now);
  void on_done(std::size_t r, const ProposalOutcome& out);
  ProcessUsage usage_all() const;
  std::uint64_t rss_largest() const;
  void finish(const char* error);

  const BenchOptions& o_;
  uv_loop_t loop_{};
  Load load_;
  UvReplica node_;
  uv_timer_t control_{};
  bool loading_ = false, measuring_ = false, finished_ = false;
  std::uint64_t started_ = 0, last_campaign_ = 0;
  Slot last_applied_slot_{};
  std::vector<std::size_t> idle_;
  ProcessUsage begin_{}, end_{};
  std::uint64_t heap_begin_ = 0, heap_end_ = 0;
  std::uint64_t peak_rss_ = 0;
  RssTrack rss_;
  std::string error_;
};

ProcessUsage LeaderRun::usage_all() const {
  ProcessUsage all = self_usage();
  for (pid_t p : children()) {
    ProcessUsage u = pid_usage(p);
    all.cpu_s += u.cpu_s;
    all.peak_rss_bytes = std::max(all.peak_rss_bytes, u.peak_rss_bytes);
    all.minor_faults += u.minor_faults;
  }
  return all;
}

// The resident set of the largest process now (as peak RSS is reported).
std::uint64_t LeaderRun::rss_largest() const {
  std::uint64_t largest = current_rss_bytes();
  for (pid_t p : children()) largest = std::max(largest, current_rss_bytes(p));
  return largest;
}

void LeaderRun::issue(std::size_t r, std::uint64_t now) {
  // Two words of capture: std::function keeps them inline, no allocation.
  ProposeResult p = node_.host().propose(
      load_.issue(r, now),
      [this, r](const ProposalOutcome& out, const std::string&) { on_done(r, out); });
  if (!p.ok()) {
    load_.refused(r);
    idle_.push_back(r);
  }
}

void LeaderRun::on_done(std::size_t r, const ProposalOutcome& out) {
  if (finished_) return;
  std::uint64_t now = now_ns();
  load_.end(r, now, out.outcome == Outcome::committed);
  if (load_.advance(now) == Phase::done) return;
  issue(r, now);
}

void LeaderRun::retry_idle(std::uint64_t now) {
  std::vector<std::size_t> again;
  again.swap(idle_);
  for (std::size_t r : again) issue(r, now);
}

void LeaderRun::wait_for_leadership(std::uint64_t now) {
  ReplicaInfo info = node_.host().info();
  if (info.role == Role::leader) {
    loading_ = true;
    load_.start(now);
    for (std::size_t r = 0; r < load_.requests(); ++r) issue(r, now);
    return;
  }
  if (now - started_ > kElectionDeadlineMs * 1'000'000u) finish("no leader within 120 s");
}

void LeaderRun::on_control() {
  if (finished_) return;
  std::uint64_t now = now_ns();
  if (!loading_) return wait_for_leadership(now);
  Phase p = load_.advance(now);
  if (!measuring_ && p != Phase::warmup) {
    begin_ = usage_all();
    heap_begin_ = heap_in_use();
    measuring_ = true;
  }
  if (p != Phase::warmup) rss_.at(load_.window_fraction(now), [this] { return rss_largest(); });
  if (p == Phase::done) return finish(nullptr);
  if (load_.progress_due(now))
    load_.print_progress(now, fmt::format(", RSS {} MiB (largest process)", rss_largest() >> 20));
  // Lost the lead (overloaded peers missed heartbeats): force it back, at
  // most once a second; the outcomes in between count as failed.
  ReplicaInfo info = node_.host().info();
  if (info.role == Role::follower && now - last_campaign_ > 1'000'000'000u &&
      node_.host().replica()) {
    last_campaign_ = now;
    node_.host().replica()->campaign();
  }
  retry_idle(now);
}

void LeaderRun::finish(const char* error) {
  finished_ = true;
  if (error) error_ = error;
  end_ = usage_all();
  heap_end_ = heap_in_use();
  peak_rss_ = end_.peak_rss_bytes;
  uv_timer_stop(&control_);
  uv_close(reinterpret_cast<uv_handle_t*>(&control_), nullptr);
  node_.stop();
}

RunResult LeaderRun::run(std::uint64_t cluster_id) {
  RunResult res;
  std::string why;
  auto apply = [this](Slot s, std::string_view) {
    if (s != last_applied_slot_) last_applied_slot_ = s, load_.slot_applied(now_ns());
    return std::string{};
  };
  if (!node_.start(cluster_id, apply, &why)) {
    node_.stop();
    uv_run(&loop_, UV_RUN_DEFAULT);
    return failed_run(why);
  }
  started_ = last_campaign_ = now_ns();
  node_.host().replica()->campaign();  // sent with the next tick
  uv_timer_init(&loop_, &control_);
  control_.data = this;
  uv_timer_start(
      &control_, [](uv_timer_t* t) { static_cast<LeaderRun*>(t->data)->on_control(); }, kControlMs,
      kControlMs);
  uv_run(&loop_, UV_RUN_DEFAULT);
  res.ok = error_.empty();
  res.error = error_;
  res.m = load_.measured();
  res.cpu_s = end_.cpu_s - begin_.cpu_s;
  res.peak_rss_bytes = peak_rss_;
  res.rss_tenths = rss_.samples();
  res.snapshots = node_.snapshots();
  res.processes = o_.replicas;
  res.heap_growth_bytes = heap_end_ > heap_begin_ ? heap_end_ - heap_begin_ : 0;
  res.fault_bytes =
      (end_.minor_faults - begin_.minor_faults) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return res;
}

}  // namespace

RunResult run_tcp(const BenchOptions& opts) {
  install_child_reaper();
  reset_peak_rss();
  BenchOptions o = opts;
  std::string why, run_dir;
  if (!pick_ports(o.replicas, o.ports, &why)) return failed_run(why);
  if (o.storage == StorageKind::log && (run_dir = make_run_dir(o, &why)).empty())
    return failed_run(why);
  // Every process keeps malloc's heap even without pre-faulting (prefault.h,
  // keep_heap): a trim and re-fault of the heap's top per round trip made
  // runs swing between ~90k and ~500k ops/s. The replicas do the same.
  keep_heap();
  // Each replica process pre-faults its own share before it listens.
  std::uint64_t prefault = prefault_bytes(o);
  o.prefault_mb = static_cast<std::int64_t>(prefault >> 20);
  static std::uint64_t runs = 0;
  std::uint64_t cluster_id = static_cast<std::uint64_t>(getpid()) << 16 | runs++;
  if (o.tls && (o.tls_dir = make_tls_dir(cluster_id, o.replicas, &why)).empty())
    return failed_run(why);
  std::string ports;
  for (auto p : o.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  for (std::uint64_t id = 2; id <= o.replicas; ++id) {
    std::vector<std::string> args = to_args(o);
    args.insert(args.end(), {"--replica-mode", "--node-id", std::to_string(id), "--ports", ports,
                             "--cluster-id", std::to_string(cluster_id)});
    if (!run_dir.empty()) args.insert(args.end(), {"--run-dir", run_dir});
    if (spawn_self(args, &why) < 0) {
      stop_children(1000);
      remove_run_dir(o, run_dir);
      remove_tls_dir(o.tls_dir);
      return failed_run(why);
    }
  }
  if (prefault) {
    fmt::print(stderr, "synod-bench: pre-faulting {} MiB of heap in each process (--prefault-mb)\n",
               prefault >> 20);
    prefault_heap(prefault);
  }
  RunResult res;
  {
    LeaderRun leader(o, run_dir);
    res = leader.run(cluster_id);
  }
  stop_children(2000);
  remove_run_dir(o, run_dir);
  remove_tls_dir(o.tls_dir);
  malloc_trim(0);  // as run_memory: the next run starts cold
  return res;
}

int run_replica_process(const BenchOptions& o) {
  die_with_parent(0);
  prctl(PR_SET_NAME, fmt::format("synod-bench-r{}", o.node_id).c_str());
  keep_heap();
  if (o.prefault_mb > 0) prefault_heap(static_cast<std::uint64_t>(o.prefault_mb) << 20);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    UvReplica node(&loop, o, NodeId{o.node_id}, o.run_dir);
    std::string why;
    uv_signal_t term{};
    uv_signal_init(&loop, &term);
    term.data = &node;
    if (!node.start(o.cluster_id, nullptr, &why)) {
      fmt::print(stderr, "synod-bench node {}: {}\n", o.node_id, why);
      node.stop();
      uv_close(reinterpret_cast<uv_handle_t*>(&term), nullptr);
      rc = 1;
    } else {
      uv_signal_start(
          &term,
          [](uv_signal_t* s, int) {
            static_cast<UvReplica*>(s->data)->stop();
            uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
          },
          SIGTERM);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  return rc;
}

}  // namespace synod::bench
