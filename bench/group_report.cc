// The --groups run's text and JSON reports.
#include "group_report.h"

#include <fmt/format.h>

namespace synod::bench {

namespace {

std::string join(const std::vector<double>& v, const char* fmt_one) {
  std::string out;
  for (double x : v) {
    if (!out.empty()) out += ", ";
    out += fmt::format(fmt::runtime(fmt_one), x);
  }
  return out;
}

std::string join_u(const std::vector<std::uint64_t>& v) {
  std::string out;
  for (auto x : v) {
    if (!out.empty()) out += ", ";
    out += std::to_string(x);
  }
  return out;
}

}  // namespace

std::string groups_text(const BenchOptions& o, const GroupsReport& r, const Context& c) {
  std::string s = fmt::format("synod-bench --groups {}: {} processes over TCP, storage {}\n",
                              r.groups, r.processes, to_string(o.storage));
  s += fmt::format("  command: {}\n  machine: {} ({} CPUs)\n", c.command, c.machine.uname,
                   c.machine.nproc);
  s += fmt::format("  every group led after {:.2f} s\n", r.elect_s);
  if (o.clients > 0)
    s += fmt::format(
        "  aggregate {:.0f} ops/s over {:.1f} s ({} ops, {} clients x {} outstanding), node 1 "
        "p50 {:.0f} us p99 {:.0f} us, failed {}, refused {}\n",
        r.ops_per_sec, r.seconds, r.ops, o.clients, o.outstanding, r.p50_us, r.p99_us, r.failed,
        r.refused);
  else
    s += fmt::format("  idle for {:.1f} s, {} of {} groups asleep on node 1\n", r.seconds,
                     r.sleeping, r.groups);
  s += fmt::format("  cores busy (every process): {:.3f}\n", r.cores_busy);
  if (!r.cpu_us_per_op.empty()) {
    double cpu = 0, frames = 0, writes = 0;
    for (std::size_t k = 0; k < r.cpu_us_per_op.size(); ++k) {
      cpu += r.cpu_us_per_op[k];
      frames += r.frames_per_op[k];
      writes += r.writes_per_op[k];
    }
    s += fmt::format(
        "  per command: {:.2f} us of CPU ({} by process), {:.3f} peer frames ({}), {:.4f} "
        "writes ({})\n",
        cpu, join(r.cpu_us_per_op, "{:.2f}"), frames, join(r.frames_per_op, "{:.3f}"), writes,
        join(r.writes_per_op, "{:.4f}"));
  }
  s += fmt::format("  RSS now per process: {} bytes (total {} MiB); peak per process: {}\n",
                   join_u(r.rss_bytes), r.rss_total >> 20, join_u(r.peak_rss_bytes));
  s += fmt::format("  RSS per group (all processes' RSS / groups / processes): {:.0f} bytes\n",
                   r.rss_per_group);
  s += fmt::format(
      "  node 1 malloc heap in use: {} bytes, {:.0f} per group above the {} before the groups\n",
      r.heap_bytes,
      (static_cast<double>(r.heap_bytes) - static_cast<double>(r.heap_before_groups)) /
          static_cast<double>(r.groups),
      r.heap_before_groups);
  s += fmt::format("  node 1 malloc heap free: {} chunks holding {} bytes\n", r.heap_free_chunks,
                   r.heap_free_bytes);
  if (!r.fdatasyncs_per_sec.empty())
    s += fmt::format("  fdatasyncs per second, per node: {}\n",
                     join(r.fdatasyncs_per_sec, "{:.0f}"));
  if (o.probe > 0)
    s += fmt::format(
        "  proposal to a sleeping group: p50 {:.0f} us, p99 {:.0f} us ({} samples, {} skipped)\n",
        r.probe_p50_us, r.probe_p99_us, r.probe_samples, r.probe_skipped);
  if (o.failover)
    s += fmt::format("  kill -9 of node 2 (led {} groups): every group led again after {:.0f} ms\n",
                     r.failover_groups, r.failover_ms);
  if (!r.error.empty()) s += "  ERROR: " + r.error + "\n";
  return s;
}

std::string groups_json(const BenchOptions& o, const GroupsReport& r, const Context& c) {
  return fmt::format(
      "{{\"mode\": \"groups\", \"command\": \"{}\", \"machine\": \"{}\", \"nproc\": {}, "
      "\"groups\": {}, \"processes\": {}, \"storage\": \"{}\", \"clients\": {}, "
      "\"outstanding\": {}, \"value_bytes\": {}, \"seconds\": {:.3f}, \"ops\": {}, "
      "\"ops_per_sec\": {:.1f}, \"p50_us\": {:.1f}, \"p99_us\": {:.1f}, \"cores_busy\": {:.4f}, "
      "\"rss_bytes\": [{}], \"peak_rss_bytes\": [{}], \"rss_total_bytes\": {}, "
      "\"peak_rss_total_bytes\": {}, \"rss_per_group_bytes\": {:.0f}, \"heap_bytes_node1\": {}, "
      "\"heap_before_groups_node1\": {}, \"heap_free_chunks_node1\": {}, "
      "\"heap_free_bytes_node1\": {}, "
      "\"fdatasyncs_per_sec\": [{}], \"sleeping\": {}, \"elect_s\": {:.3f}, "
      "\"probe_samples\": {}, \"probe_p50_us\": {:.1f}, \"probe_p99_us\": {:.1f}, "
      "\"failover_groups\": {}, \"failover_ms\": {:.1f}, \"failed\": {}, \"refused\": {}, "
      "\"cpu_us_per_op\": [{}], \"frames_per_op\": [{}], \"writes_per_op\": [{}], "
      "\"error\": \"{}\"}}",
      c.command, c.machine.uname, c.machine.nproc, r.groups, r.processes, to_string(o.storage),
      o.clients, o.outstanding, o.value_bytes, r.seconds, r.ops, r.ops_per_sec, r.p50_us, r.p99_us,
      r.cores_busy, join_u(r.rss_bytes), join_u(r.peak_rss_bytes), r.rss_total, r.peak_rss_total,
      r.rss_per_group, r.heap_bytes, r.heap_before_groups, r.heap_free_chunks, r.heap_free_bytes,
      join(r.fdatasyncs_per_sec, "{:.1f}"), r.sleeping, r.elect_s, r.probe_samples, r.probe_p50_us,
      r.probe_p99_us, r.failover_groups, r.failover_ms, r.failed, r.refused,
      join(r.cpu_us_per_op, "{:.3f}"), join(r.frames_per_op, "{:.4f}"),
      join(r.writes_per_op, "{:.5f}"), r.error);
}

}  // namespace synod::bench
