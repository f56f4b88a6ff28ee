// synod-bench: committed proposals per second, latency percentiles, CPU per
// proposal and peak memory, in one process (memory transport) or across
// processes over loopback TCP. docs/benchmarks.md has the figures and the
// commands that produced them.
#include <fmt/format.h>

#include <fstream>

#include "group_run.h"
#include "options.h"
#include "process_stats.h"
#include "report.h"
#include "run.h"

using namespace synod::bench;

namespace {

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) fmt::print(stderr, "synod-bench: cannot write {}\n", path);
  return static_cast<bool>(f);
}

// Runs the configuration o.repeat times; false (reported) when a run failed.
bool measure(const BenchOptions& o, Figures& out) {
  std::vector<Figures> runs;
  for (std::uint32_t i = 0; i < o.repeat; ++i) {
    if (o.repeat > 1) fmt::print(stderr, "synod-bench: run {} of {}\n", i + 1, o.repeat);
    RunResult r = o.transport == TransportKind::memory ? run_memory(o) : run_tcp(o);
    if (!r.ok) {
      fmt::print(stderr, "synod-bench: run failed: {}\n", r.error);
      return false;
    }
    runs.push_back(figures_of(o, r));
  }
  out = median_of(runs);
  return true;
}

int single(const BenchOptions& o, const Context& c) {
  Figures f;
  if (!measure(o, f)) return 1;
  fmt::print("{}", text_report(o, f, c));
  if (!o.json_path.empty() && !write_file(o.json_path, json_run(o, f, c) + "\n")) return 1;
  return 0;
}

int sweep(const BenchOptions& base, const Context& c) {
  std::vector<SweepPoint> points;
  std::string json;
  for (std::uint64_t v : base.sweep_values) {
    BenchOptions o = base;
    set_by_name(o, o.sweep_name, v);
    fmt::print(stderr, "synod-bench: sweep {}={}\n", o.sweep_name, v);
    Figures f;
    if (!measure(o, f)) return 1;
    fmt::print("{}\n", text_report(o, f, c));
    points.push_back({v, f});
    json += (json.empty() ? "" : ",\n  ") + json_run(o, f, c);
  }
  bool ok = write_file(base.csv_path, sweep_csv(base.sweep_name, points)) &&
            write_file(base.svg_path, sweep_svg(base, points, c));
  if (ok) fmt::print("sweep written to {} and {}\n", base.csv_path, base.svg_path);
  if (!base.json_path.empty())
    ok &= write_file(base.json_path, fmt::format("{{\"sweep\": \"{}\", \"runs\": [\n  {}\n]}}\n",
                                                 base.sweep_name, json));
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions o;
  ParseResult p = parse(argc, argv, o);
  if (p.help) {
    fmt::print("{}", usage());
    return 0;
  }
  if (!p.ok) {
    fmt::print(stderr, "synod-bench: {}\n", p.error);
    return 2;
  }
  if (o.replica_mode) return o.groups ? run_group_replica(o) : run_replica_process(o);
  Context c{command_line(argc, argv), describe_machine()};
  if (o.groups) return run_groups(o, c);
  return o.sweep_name.empty() ? single(o, c) : sweep(o, c);
}
