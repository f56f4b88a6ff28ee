#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <type_traits>

namespace synod::bench {

namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += c;
    }
  }
  return out + "\"";
}

std::string bytes_text(std::uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(b) / (1ull << 30));
  return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1ull << 20));
}

std::string thousands(double v) {
  std::string digits = fmt::format("{:.0f}", v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return one.empty() ? "unknown" : one + " " + five + " " + fifteen;
}

std::string config_line(const BenchOptions& o) {
  return fmt::format(
      "transport={} replicas={} value_bytes={} clients={} outstanding={} batch_max={} "
      "inflight_max={} storage={}{} {} warmup_s={} tick_ms={} election_ticks={} "
      "snapshot_every={} compaction_tail={}{}{}",
      to_string(o.transport), o.replicas, o.value_bytes, o.clients, o.outstanding, o.batch_max,
      o.inflight_max, to_string(o.storage),
      o.storage == StorageKind::log ? " data_dir=" + o.data_dir : "",
      o.commands ? fmt::format("commands={}", o.commands)
                 : fmt::format("duration_s={}", o.duration_s),
      o.warmup_s, o.tick_ms, o.election_ticks, o.snapshot_every, o.compaction_tail,
      o.wire ? " wire=on" : "", o.tls ? " tls=on" : "");
}

std::string mib(std::uint64_t b) {
  return fmt::format("{:.0f}", static_cast<double>(b) / (1ull << 20));
}

}  // namespace

Figures figures_of(const BenchOptions& o, const RunResult& r) {
  Figures f;
  const Measured& m = r.m;
  f.seconds = m.seconds;
  f.ops = m.ops;
  if (m.seconds > 0) {
    f.ops_per_sec = static_cast<double>(m.ops) / m.seconds;
    f.slots_per_sec = static_cast<double>(m.slots) / m.seconds;
    f.cores_busy = r.cpu_s / m.seconds;
  }
  f.mb_per_sec = f.ops_per_sec * static_cast<double>(o.value_bytes) / 1e6;
  f.commands_per_slot = m.slots ? static_cast<double>(m.ops) / static_cast<double>(m.slots) : 0;
  auto us = [&](double q) { return static_cast<double>(m.latency.quantile(q)) / 1e3; };
  f.p50_us = us(0.50), f.p90_us = us(0.90), f.p99_us = us(0.99), f.p999_us = us(0.999);
  f.max_us = static_cast<double>(m.latency.max()) / 1e3;
  f.cpu_us_per_op = m.ops ? r.cpu_s * 1e6 / static_cast<double>(m.ops) : 0;
  f.peak_rss_bytes = r.peak_rss_bytes;
  f.rss_tenths = r.rss_tenths;
  f.snapshots = r.snapshots;
  f.restores = r.restores;
  f.states = r.states;
  f.heap_bytes_per_op =
      m.ops ? static_cast<double>(r.heap_growth_bytes) / static_cast<double>(m.ops) : 0;
  f.fault_mb = static_cast<double>(r.fault_bytes) / 1e6;
  f.failed = m.failed;
  f.refused = m.refused;
  return f;
}

Figures median_of(const std::vector<Figures>& runs) {
  Figures m = runs.front();
  auto med = [&](auto field) {
    std::vector<std::remove_cvref_t<decltype(runs.front().*field)>> v;
    for (const Figures& f : runs) v.push_back(f.*field);
    std::sort(v.begin(), v.end());
    m.*field = v[v.size() / 2];
  };
  med(&Figures::seconds), med(&Figures::ops), med(&Figures::ops_per_sec), med(&Figures::mb_per_sec);
  med(&Figures::slots_per_sec), med(&Figures::commands_per_slot), med(&Figures::p50_us);
  med(&Figures::p90_us), med(&Figures::p99_us), med(&Figures::p999_us), med(&Figures::max_us);
  med(&Figures::cpu_us_per_op), med(&Figures::cores_busy), med(&Figures::peak_rss_bytes);
  med(&Figures::heap_bytes_per_op), med(&Figures::fault_mb), med(&Figures::failed);
  med(&Figures::refused), med(&Figures::snapshots), med(&Figures::restores);
  for (std::size_t i = 0; i < RssTrack::kPoints; ++i) {
    std::vector<std::uint64_t> v;
    for (const Figures& f : runs) v.push_back(f.rss_tenths[i]);
    std::sort(v.begin(), v.end());
    m.rss_tenths[i] = v[v.size() / 2];
  }
  m.runs = static_cast<unsigned>(runs.size());
  m.ops_per_sec_min = m.ops_per_sec_max = runs.front().ops_per_sec;
  for (const Figures& f : runs) {
    m.ops_per_sec_min = std::min(m.ops_per_sec_min, f.ops_per_sec);
    m.ops_per_sec_max = std::max(m.ops_per_sec_max, f.ops_per_sec);
  }
  return m;
}

std::string text_report(const BenchOptions& o, const Figures& f, const Context& c) {
  std::string s;
  s += fmt::format("synod-bench results\n");
  s += fmt::format("  configuration     {}\n", config_line(o));
  s += fmt::format("  command           {}\n", c.command);
  s += fmt::format("  machine           {}\n", c.machine.uname);
  s += fmt::format("  nproc             {}   (load average now: {})\n", c.machine.nproc,
                   load_average());
  s += fmt::format("  measured          {:.2f} s, {} committed commands\n", f.seconds,
                   thousands(static_cast<double>(f.ops)));
  if (f.runs > 1)
    s += fmt::format(
        "  runs              {}; every figure below is the median of the runs; ops/s "
        "ranged {} to {}\n",
        f.runs, thousands(f.ops_per_sec_min), thousands(f.ops_per_sec_max));
  s += fmt::format("  committed ops/s   {}\n", thousands(f.ops_per_sec));
  s += fmt::format("  MB/s              {:.1f}   (command bytes, 10^6 B/s)\n", f.mb_per_sec);
  s += fmt::format("  slots/s           {}   ({:.1f} commands per slot)\n",
                   thousands(f.slots_per_sec), f.commands_per_slot);
  s += fmt::format(
      "  latency us        p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}\n",
      f.p50_us, f.p90_us, f.p99_us, f.p999_us, f.max_us);
  s += fmt::format(
      "  CPU us per op     {:.3f}   ({:.2f} cores busy, all {} processes{})\n", f.cpu_us_per_op,
      f.cores_busy, o.transport == TransportKind::tcp ? o.replicas : 1,
      o.transport == TransportKind::memory && o.storage == StorageKind::memory && f.cores_busy < 0.9
          ? "; the loop never sleeps, so other programs took the rest"
          : "");
  s += fmt::format("  peak RSS          {}   (largest process, whole run)\n",
                   bytes_text(f.peak_rss_bytes));
  const auto& t = f.rss_tenths;
  s += fmt::format(
      "  RSS over window   {} MiB at 10 %, {} MiB at 50 %, {} MiB at 100 % ({:+.0f} MiB from 10 "
      "to 100 %)\n",
      mib(t[1]), mib(t[5]), mib(t[10]),
      (static_cast<double>(t[10]) - static_cast<double>(t[1])) / (1ull << 20));
  std::string tenths;
  for (std::uint64_t b : t) tenths += fmt::format("{}{}", tenths.empty() ? "" : " ", mib(b));
  s += fmt::format("  RSS by tenths     {}   (MiB at 0, 10, ..., 100 % of the window)\n", tenths);
  if (o.snapshot_every)
    s += fmt::format(
        "  compaction        every {} slots, {} slots kept below: {} snapshots, {} restored\n",
        o.snapshot_every, o.compaction_tail, thousands(static_cast<double>(f.snapshots)),
        f.restores);
  else
    s += "  compaction        off (--snapshot-every 0): the log keeps every command\n";
  if (!f.states.empty()) s += fmt::format("  state machines    {}\n", f.states);
  s += fmt::format("  heap per op       {:.0f} B retained{}\n", f.heap_bytes_per_op,
                   o.transport == TransportKind::tcp ? " by the leader process" : "");
  s += fmt::format(
      "  first touch       {:.0f} MB of pages faulted in during the window ({:.0f} B per op)\n",
      f.fault_mb, f.ops ? f.fault_mb * 1e6 / static_cast<double>(f.ops) : 0.0);
  if (f.failed || f.refused)
    s += fmt::format("  not committed     {} outcomes not committed, {} proposals refused\n",
                     f.failed, f.refused);
  return s;
}

std::string json_run(const BenchOptions& o, const Figures& f, const Context& c) {
  std::string cfg = fmt::format(
      "{{\"transport\": \"{}\", \"replicas\": {}, \"value_bytes\": {}, \"clients\": {}, "
      "\"outstanding\": {}, \"batch_max\": {}, \"inflight_max\": {}, \"storage\": \"{}\", "
      "\"data_dir\": {}, \"duration_s\": {}, \"warmup_s\": {}, \"tick_ms\": {}, "
      "\"election_ticks\": {}, \"wire\": {}, \"commands\": {}, \"snapshot_every\": {}, "
      "\"compaction_tail\": {}}}",
      to_string(o.transport), o.replicas, o.value_bytes, o.clients, o.outstanding, o.batch_max,
      o.inflight_max, to_string(o.storage), json_string(o.data_dir), o.duration_s, o.warmup_s,
      o.tick_ms, o.election_ticks, o.wire, o.commands, o.snapshot_every, o.compaction_tail);
  std::string tenths;
  for (std::uint64_t b : f.rss_tenths) tenths += fmt::format("{}{}", tenths.empty() ? "" : ", ", b);
  return fmt::format(
      "{{\"ops_per_sec\": {:.1f}, \"mb_per_sec\": {:.3f}, \"slots_per_sec\": {:.1f}, "
      "\"commands_per_slot\": {:.2f}, \"p50_us\": {:.2f}, \"p90_us\": {:.2f}, \"p99_us\": {:.2f}, "
      "\"p999_us\": {:.2f}, \"max_us\": {:.2f}, \"cpu_us_per_op\": {:.4f}, \"cores_busy\": {:.3f}, "
      "\"peak_rss_bytes\": {}, \"rss_10pct_bytes\": {}, \"rss_50pct_bytes\": {}, "
      "\"rss_100pct_bytes\": {}, \"rss_tenths_bytes\": [{}], \"snapshots\": {}, \"restores\": {}, "
      "\"states\": {}, \"ops\": {}, \"seconds\": {:.3f}, \"not_committed\": {}, "
      "\"refused\": {}, \"runs\": {}, \"ops_per_sec_min\": {:.1f}, \"ops_per_sec_max\": {:.1f}, "
      "\"heap_bytes_per_op\": {:.1f}, \"fault_mb\": {:.1f}, \"config\": {}, \"command\": {}, "
      "\"uname\": {}, \"nproc\": {}}}",
      f.ops_per_sec, f.mb_per_sec, f.slots_per_sec, f.commands_per_slot, f.p50_us, f.p90_us,
      f.p99_us, f.p999_us, f.max_us, f.cpu_us_per_op, f.cores_busy, f.peak_rss_bytes,
      f.rss_tenths[1], f.rss_tenths[5], f.rss_tenths[10], tenths, f.snapshots, f.restores,
      json_string(f.states), f.ops, f.seconds, f.failed, f.refused, f.runs, f.ops_per_sec_min,
      f.ops_per_sec_max, f.heap_bytes_per_op, f.fault_mb, cfg, json_string(c.command),
      json_string(c.machine.uname), c.machine.nproc);
}

std::string sweep_csv(const std::string& name, const std::vector<SweepPoint>& points) {
  std::string s = name +
                  ",ops_per_sec,mb_per_sec,slots_per_sec,p50_us,p90_us,p99_us,p999_us,max_us,"
                  "cpu_us_per_op,peak_rss_bytes,rss_10pct_bytes,rss_100pct_bytes,not_committed\n";
  for (const SweepPoint& p : points) {
    const Figures& f = p.f;
    s += fmt::format(
        "{},{:.1f},{:.3f},{:.1f},{:.2f},{:.2f},{:.2f},{:.2f},{:.2f},{:.4f},{},{},{},{}\n", p.value,
        f.ops_per_sec, f.mb_per_sec, f.slots_per_sec, f.p50_us, f.p90_us, f.p99_us, f.p999_us,
        f.max_us, f.cpu_us_per_op, f.peak_rss_bytes, f.rss_tenths[1], f.rss_tenths[10], f.failed);
  }
  return s;
}

}  // namespace synod::bench
