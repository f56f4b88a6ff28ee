#include "process_stats.h"

#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace synod::bench {

ProcessUsage self_usage() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  ProcessUsage u;
  u.cpu_s = secs(ru.ru_utime) + secs(ru.ru_stime);
  u.peak_rss_bytes = static_cast<std::uint64_t>(ru.ru_maxrss) * 1024;
  u.minor_faults = static_cast<std::uint64_t>(ru.ru_minflt);
  // After clear_refs, VmHWM is the peak since the reset; ru_maxrss is not.
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) u.peak_rss_bytes = std::stoull(line.substr(6)) * 1024;
  return u;
}

ProcessUsage pid_usage(pid_t pid) {
  ProcessUsage u;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text;
  if (!std::getline(stat, text)) return u;
  // Fields after the command name, which is in parentheses and may hold
  // spaces: state is field 3, minflt 10, utime 14, stime 15.
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 10) u.minor_faults = std::stoull(field);
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  u.cpu_s = ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) u.peak_rss_bytes = std::stoull(line.substr(6)) * 1024;
  return u;
}

std::uint64_t current_rss_bytes(pid_t pid) {
  std::ifstream status(pid ? fmt::format("/proc/{}/status", pid)
                           : std::string("/proc/self/status"));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

void reset_peak_rss() {
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

Machine describe_machine() {
  Machine m;
  if (std::FILE* p = popen("uname -a 2>/dev/null", "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) m.uname += buf;
    pclose(p);
  }
  while (!m.uname.empty() && (m.uname.back() == '\n' || m.uname.back() == '\r')) m.uname.pop_back();
  if (m.uname.empty()) {
    utsname u{};
    uname(&u);
    m.uname = fmt::format("{} {} {} {} {}", u.sysname, u.nodename, u.release, u.version, u.machine);
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  m.nproc = sched_getaffinity(0, sizeof set, &set) == 0
                ? static_cast<unsigned>(CPU_COUNT(&set))
                : static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN));
  return m;
}

std::string command_line(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool plain = !a.empty() && a.find_first_not_of(
                                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-_./=,:+@%") == std::string::npos;
    if (!out.empty()) out += ' ';
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace synod::bench
