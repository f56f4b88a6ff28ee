// What a --groups run measured, and its text and JSON reports
// (bench/group_run.cc fills it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "options.h"
#include "report.h"

namespace synod::bench {

struct GroupsReport {
  std::uint64_t groups = 0;
  unsigned processes = 0;
  double seconds = 0;
  std::uint64_t ops = 0;
  double ops_per_sec = 0;
  double p50_us = 0, p99_us = 0;  // node 1's clients
  double cores_busy = 0;
  std::vector<std::uint64_t> rss_bytes, peak_rss_bytes;  // per process, node 1 first
  std::uint64_t rss_total = 0, peak_rss_total = 0;
  double rss_per_group = 0;              // every process's resident set over groups x processes
  std::uint64_t heap_bytes = 0;          // node 1: malloc heap in use when measured
  std::uint64_t heap_before_groups = 0;  // node 1: the same before it added its groups
  // node 1, when measured: free chunks in malloc's bins and their bytes (a
  // heap whose free part is scattered between live blocks makes malloc and
  // free walk cold chunks: docs/benchmarks.md, "Many groups")
  std::uint64_t heap_free_chunks = 0, heap_free_bytes = 0;
  std::vector<double> fdatasyncs_per_sec;  // per node, --storage log
  std::uint64_t sleeping = 0;              // node 1's sleeping groups when measured
  double elect_s = 0;                      // from start until every group had a leader
  std::uint64_t probe_samples = 0, probe_skipped = 0;
  double probe_p50_us = 0, probe_p99_us = 0;
  double failover_ms = -1;            // time until the last group had a leader again
  std::uint64_t failover_groups = 0;  // groups that had lost their leader
  std::uint64_t failed = 0, refused = 0;
  // Per process, node 1 first, over its load window: CPU microseconds per
  // command (its CPU over every process's commands: they add up to the
  // cluster's), and peer frames and writes per command.
  std::vector<double> cpu_us_per_op, frames_per_op, writes_per_op;
  std::string error;
};

std::string groups_text(const BenchOptions& o, const GroupsReport& r, const Context& c);
std::string groups_json(const BenchOptions& o, const GroupsReport& r, const Context& c);

}  // namespace synod::bench
