// synod-log-bench: append throughput and latency of the durable log, with and
// without group commit, against the raw fdatasync floor of the same disk
// measured in the same run.
//
//   synod-log-bench [--dir DIR] [--seconds S] [--runs R] [--sizes 64,256,4096]
//                   [--windows 1,8,64,512]
//
// Per record size (command bytes; a record adds 52 bytes of framing):
//   floor/fallocated  pwrite of one record's bytes + fdatasync, into a file
//                     preallocated with fallocate (as Preallocation::allocate)
//   floor/zeroed      the same into a file already written with zeros
//   log/sync-each     LogStorage::save + sync per record, one thread
//   log/zeroed        the same with synod-kv's options: segments zeroed
//                     ahead (write_zeros) and recycled, appended uncached
//   log/writer W=n    LogWriter, n records in flight (closed loop); latency
//                     is submit -> durable callback
// Each configuration runs R times for S seconds, the runs interleaved (run 1
// of every configuration, then run 2, ...); the table shows the median run by
// throughput with its p50/p99 latency, the range of throughput over runs, and
// the process's CPU time (user + system, every thread) per sync.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "synod/log_storage.h"
#include "synod/log_writer.h"

using Clock = std::chrono::steady_clock;
using namespace synod;

namespace {

struct Args {
  std::string dir = "/tmp";
  double seconds = 1.0;
  int runs = 3;
  std::vector<std::size_t> sizes = {64, 256, 4096};
  std::vector<std::size_t> windows = {1, 8, 64, 512};
};

struct Run {
  double ops_per_sec = 0;
  double p50_us = 0, p99_us = 0;
  double records_per_sync = 1;
  double cpu_us_per_sync = 0;
};

// The process's CPU time so far (every thread, user and system), in us.
double process_cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto us = [](timeval t) { return double(t.tv_sec) * 1e6 + double(t.tv_usec); };
  return us(u.ru_utime) + us(u.ru_stime);
}

std::vector<std::size_t> parse_list(const char* text) {
  std::vector<std::size_t> out;
  for (const char* p = text; *p;) {
    char* end = nullptr;
    out.push_back(std::strtoull(p, &end, 10));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i];
    if (f == "--dir")
      a->dir = argv[i + 1];
    else if (f == "--seconds")
      a->seconds = std::atof(argv[i + 1]);
    else if (f == "--runs")
      a->runs = std::atoi(argv[i + 1]);
    else if (f == "--sizes")
      a->sizes = parse_list(argv[i + 1]);
    else if (f == "--windows")
      a->windows = parse_list(argv[i + 1]);
    else
      return false;
  }
  return argc % 2 == 1 && a->runs > 0 && a->seconds > 0;
}

Clock::duration until(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

Run summarise(std::vector<double>& latencies_us, std::uint64_t ops, Clock::duration elapsed,
              std::uint64_t syncs, double cpu_us) {
  Run r;
  r.cpu_us_per_sync = syncs ? cpu_us / double(syncs) : 0;
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    if (latencies_us.empty()) return 0.0;
    return latencies_us[std::min(latencies_us.size() - 1,
                                 static_cast<std::size_t>(p * latencies_us.size()))];
  };
  r.ops_per_sec = ops / std::chrono::duration<double>(elapsed).count();
  r.p50_us = pct(0.50);
  r.p99_us = pct(0.99);
  r.records_per_sync = syncs ? double(ops) / double(syncs) : 1;
  return r;
}

// A fresh directory per run, removed afterwards.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& base) {
    std::string tmpl = base + "/synod-log-bench-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    path = tmpl;
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
};

constexpr std::uint64_t kSegmentBytes = 64u << 20;
constexpr std::size_t kFramingBytes = 52;  // record header + value framing, one command

Run raw_floor(const std::string& base, std::size_t record_bytes, double seconds, bool zeroed) {
  ScratchDir d(base);
  std::string path = d.path + "/floor";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::posix_fallocate(fd, 0, kSegmentBytes) != 0) std::exit(1);
  std::vector<char> buf(std::max<std::size_t>(record_bytes, 1 << 20), 0);
  if (zeroed) {
    for (std::uint64_t off = 0; off < kSegmentBytes; off += buf.size())
      if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(off)) < 0) std::exit(1);
  }
  if (::fsync(fd) < 0) std::exit(1);
  std::fill(buf.begin(), buf.end(), 'x');
  std::vector<double> lat;
  std::uint64_t off = 0, ops = 0;
  const double cpu0 = process_cpu_us();
  auto start = Clock::now();
  auto stop = start + until(seconds);
  for (auto now = start; now < stop && off + record_bytes <= kSegmentBytes; ++ops) {
    if (::pwrite(fd, buf.data(), record_bytes, static_cast<off_t>(off)) < 0) std::exit(1);
    if (::fdatasync(fd) < 0) std::exit(1);
    off += record_bytes;
    auto done = Clock::now();
    lat.push_back(micros(done - now));
    now = done;
  }
  auto elapsed = Clock::now() - start;
  const double cpu = process_cpu_us() - cpu0;
  ::close(fd);
  return summarise(lat, ops, elapsed, ops, cpu);
}

// zeroed: synod-kv's options (--log-format 2): segments zeroed ahead on the
// spare's thread, compacted ones recycled, batches appended uncached.
std::unique_ptr<LogStorage> open_log(const std::string& dir, bool zeroed = false) {
  LogOptions o;
  o.segment_bytes = kSegmentBytes;
  if (zeroed) {
    o.preallocation = Preallocation::write_zeros;
    o.recycle_segments = true;
  }
  auto r = LogStorage::open(dir, o);
  if (!r.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), r.error.c_str());
    std::exit(1);
  }
  return std::move(r.storage);
}

Run log_sync_each(const std::string& base, std::size_t value_bytes, double seconds, bool zeroed) {
  ScratchDir d(base);
  auto log = open_log(d.path, zeroed);
  if (zeroed) {
    // The first segment is fallocated; the log moves to the spare once it
    // is zeroed, which is what is measured.
    Entry first{Slot{1}, Ballot{1, NodeId{1}}, Value::of_commands({"x"})};
    for (auto give_up = Clock::now() + std::chrono::seconds(30);
         log->stats().spares_taken == 0 && Clock::now() < give_up;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (log->save(nullptr, std::span(&first, 1)) != Status::ok || log->sync() != Status::ok)
        std::exit(1);
    }
    if (log->stats().spares_taken == 0) {
      std::fprintf(stderr, "log/zeroed: no spare was ready in 30 s\n");
      std::exit(1);
    }
  }
  Value v = Value::of_commands({std::string(value_bytes, 'v')});
  std::vector<double> lat;
  std::uint64_t ops = 0, syncs0 = log->stats().syncs;
  const double cpu0 = process_cpu_us();
  auto start = Clock::now();
  auto stop = start + until(seconds);
  for (auto now = start; now < stop; ++ops) {
    Entry e{Slot{ops + 2}, Ballot{1, NodeId{1}}, v};
    if (log->save(nullptr, std::span(&e, 1)) != Status::ok || log->sync() != Status::ok)
      std::exit(1);
    auto done = Clock::now();
    lat.push_back(micros(done - now));
    now = done;
  }
  auto elapsed = Clock::now() - start;
  return summarise(lat, ops, elapsed, log->stats().syncs - syncs0, process_cpu_us() - cpu0);
}

Run log_writer(const std::string& base, std::size_t value_bytes, double seconds,
               std::size_t window) {
  ScratchDir d(base);
  auto log = open_log(d.path);
  Value v = Value::of_commands({std::string(value_bytes, 'v')});
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::pair<std::uint64_t, Clock::time_point>> in_flight;  // sequence, submit time
  std::vector<double> lat;
  std::uint64_t durable_ops = 0, syncs0 = log->stats().syncs;
  const double cpu0 = process_cpu_us();
  LogWriter writer(*log, [&](std::uint64_t durable, Status st) {
    if (st != Status::ok) std::exit(1);
    auto now = Clock::now();
    std::lock_guard lock(mutex);
    while (!in_flight.empty() && in_flight.front().first <= durable) {
      lat.push_back(micros(now - in_flight.front().second));
      in_flight.pop_front();
      ++durable_ops;
    }
    cv.notify_one();
  });
  auto start = Clock::now();
  auto stop = start + until(seconds);
  for (std::uint64_t slot = 1; Clock::now() < stop; ++slot) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return in_flight.size() < window; });
    Entry e{Slot{slot}, Ballot{1, NodeId{1}}, v};
    auto sub = writer.submit(nullptr, std::span(&e, 1));
    if (!sub.ok()) std::exit(1);
    in_flight.emplace_back(sub.sequence, Clock::now());
  }
  if (writer.flush() != Status::ok) std::exit(1);
  auto elapsed = Clock::now() - start;
  writer.stop();
  const double cpu = process_cpu_us() - cpu0;
  std::lock_guard lock(mutex);
  return summarise(lat, durable_ops, elapsed, log->stats().syncs - syncs0, cpu);
}

struct Config {
  std::size_t bytes;
  std::string name;
  std::function<Run()> run;
  std::vector<Run> runs;
};

// The median run by throughput.
Run median_of(std::vector<Run> all) {
  std::sort(all.begin(), all.end(),
            [](const Run& a, const Run& b) { return a.ops_per_sec < b.ops_per_sec; });
  return all[all.size() / 2];
}

void print_row(const Config& c) {
  Run r = median_of(c.runs);
  auto [lo, hi] = std::minmax_element(c.runs.begin(), c.runs.end(), [](const Run& a, const Run& b) {
    return a.ops_per_sec < b.ops_per_sec;
  });
  std::printf("%6zu  %-18s %10.0f %9.0f..%-9.0f %9.1f %9.1f %10.2f %8.1f %11.1f\n", c.bytes,
              c.name.c_str(), r.ops_per_sec, lo->ops_per_sec, hi->ops_per_sec, r.p50_us, r.p99_us,
              r.records_per_sync, r.ops_per_sec * double(c.bytes) / 1e6, r.cpu_us_per_sync);
}

std::string fs_type(const std::string& dir) {
  struct statfs s {};
  if (::statfs(dir.c_str(), &s) != 0) return "?";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794C7630:
      return "overlayfs";
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(s.f_type));
  return hex;
}

void print_machine(int argc, char** argv, const Args& a) {
  std::printf("command:");
  for (int i = 0; i < argc; ++i) std::printf(" %s", argv[i]);
  utsname u{};
  ::uname(&u);
  std::printf("\nmachine: %s %s %s %s, nproc %ld\n", u.sysname, u.release, u.version, u.machine,
              ::sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("dir: %s (%s), %d runs of %.1f s each, median run shown\n\n", a.dir.c_str(),
              fs_type(a.dir).c_str(), a.runs, a.seconds);
  std::printf("%6s  %-18s %10s %19s %9s %9s %10s %8s %11s\n", "bytes", "config", "records/s",
              "(min..max of runs)", "p50 us", "p99 us", "recs/sync", "MB/s", "CPU us/sync");
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, &a)) {
    std::fprintf(stderr,
                 "usage: %s [--dir DIR] [--seconds S] [--runs R] [--sizes 64,256,4096] "
                 "[--windows 1,8,64,512]\n",
                 argv[0]);
    return 2;
  }
  print_machine(argc, argv, a);
  std::vector<Config> configs;
  for (std::size_t bytes : a.sizes) {
    std::size_t on_disk = bytes + kFramingBytes;
    configs.push_back({bytes,
                       "floor/fallocated",
                       [=] { return raw_floor(a.dir, on_disk, a.seconds, false); },
                       {}});
    configs.push_back(
        {bytes, "floor/zeroed", [=] { return raw_floor(a.dir, on_disk, a.seconds, true); }, {}});
    configs.push_back({bytes,
                       "log/sync-each",
                       [=] { return log_sync_each(a.dir, bytes, a.seconds, false); },
                       {}});
    configs.push_back(
        {bytes, "log/zeroed", [=] { return log_sync_each(a.dir, bytes, a.seconds, true); }, {}});
    for (std::size_t w : a.windows)
      configs.push_back({bytes,
                         "log/writer W=" + std::to_string(w),
                         [=] { return log_writer(a.dir, bytes, a.seconds, w); },
                         {}});
  }
  // Runs interleave the configurations, so a disk whose speed drifts (burst
  // credits, throttling, other tenants) affects every row alike.
  for (int run = 0; run < a.runs; ++run)
    for (Config& c : configs) c.runs.push_back(c.run());
  std::size_t last_bytes = configs.front().bytes;
  for (const Config& c : configs) {
    if (c.bytes != last_bytes) std::printf("\n");
    last_bytes = c.bytes;
    print_row(c);
  }
  return 0;
}
