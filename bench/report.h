// Turning a run into figures, and the figures into text, JSON, CSV and an
// SVG throughput-latency plot (written by hand: no plotting dependency).
#pragma once

#include <string>
#include <vector>

#include "options.h"
#include "process_stats.h"
#include "run.h"

namespace synod::bench {

struct Figures {
  double seconds = 0;
  std::uint64_t ops = 0;
  double ops_per_sec = 0;
  double mb_per_sec = 0;  // command bytes committed, 10^6 bytes per second
  double slots_per_sec = 0;
  double commands_per_slot = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  double cpu_us_per_op = 0;  // every process
  double cores_busy = 0;     // CPU seconds per second of the window
  std::uint64_t peak_rss_bytes = 0;
  // Resident bytes at each tenth of the window (largest process): flat
  // memory shows as the 10 % sample equal to the 100 % one.
  RssTrack::Samples rss_tenths{};
  std::uint64_t snapshots = 0, restores = 0;  // whole run, every replica
  std::string states;                         // the state machine check (memory transport)
  double heap_bytes_per_op = 0;               // this process's heap growth per op
  double fault_mb = 0;                        // pages first touched, every process, 10^6 B
  std::uint64_t failed = 0;
  std::uint64_t refused = 0;
  // With --repeat: how many runs these figures are the medians of, and the
  // lowest and highest ops/s among them.
  unsigned runs = 1;
  double ops_per_sec_min = 0, ops_per_sec_max = 0;
};

Figures figures_of(const BenchOptions& o, const RunResult& r);
// Each figure's median over the runs (the upper median for an even count).
Figures median_of(const std::vector<Figures>& runs);

// What every report carries besides the figures.
struct Context {
  std::string command;
  Machine machine;
};

std::string text_report(const BenchOptions& o, const Figures& f, const Context& c);
// One run as a JSON object (no trailing newline).
std::string json_run(const BenchOptions& o, const Figures& f, const Context& c);

struct SweepPoint {
  std::uint64_t value = 0;
  Figures f;
};
std::string sweep_csv(const std::string& name, const std::vector<SweepPoint>& points);
std::string sweep_svg(const BenchOptions& o, const std::vector<SweepPoint>& points,
                      const Context& c);

}  // namespace synod::bench
