// CPU time and peak memory of this process and of the replica processes it
// started, and a description of the machine for the report.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace synod::bench {

struct ProcessUsage {
  double cpu_s = 0;                  // user + system, every thread
  std::uint64_t peak_rss_bytes = 0;  // high-water resident set
  std::uint64_t minor_faults = 0;    // pages the kernel mapped in (first touch)
};

// This process (getrusage: microsecond resolution).
ProcessUsage self_usage();
// Another process from /proc/<pid>/stat and status (clock-tick resolution).
// Zeros when it is gone.
ProcessUsage pid_usage(pid_t pid);
// The resident set now (VmRSS), of this process (pid 0) or another; 0 when
// unknown or gone.
std::uint64_t current_rss_bytes(pid_t pid = 0);
// Resets the peak RSS of this process to its current RSS, so a sweep reports
// each run's own peak (/proc/self/clear_refs; ignored where unsupported).
void reset_peak_rss();

struct Machine {
  std::string uname;   // as `uname -a` prints it
  unsigned nproc = 0;  // CPUs this process may run on, as `nproc` prints
};
Machine describe_machine();

// The command line, shell-quoted where needed.
std::string command_line(int argc, char** argv);

}  // namespace synod::bench
