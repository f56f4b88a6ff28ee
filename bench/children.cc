#include "children.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace synod::bench {

namespace {

// Read by the signal handler: a fixed array, no allocation.
constexpr int kMaxChildren = 16;
std::atomic<pid_t> g_children[kMaxChildren];

void kill_all(int sig) {
  for (auto& c : g_children) {
    pid_t p = c.load();
    if (p > 0) kill(p, sig);
  }
}

extern "C" void on_fatal_signal(int sig) {
  kill_all(SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

void forget(pid_t pid) {
  for (auto& c : g_children)
    if (c.load() == pid) c.store(0);
}

}  // namespace

bool pick_ports(std::size_t n, std::vector<std::uint32_t>& out, std::string* why) {
  std::vector<int> fds;
  out.clear();
  bool ok = true;
  for (std::size_t i = 0; i < n && ok; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
         getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    if (fd >= 0) fds.push_back(fd);
    if (ok) out.push_back(ntohs(a.sin_port));
  }
  if (!ok) *why = fmt::format("cannot find a free port on 127.0.0.1: {}", std::strerror(errno));
  for (int fd : fds) close(fd);
  return ok;
}

pid_t spawn_self(const std::vector<std::string>& args, std::string* why) {
  std::vector<char*> argv;
  static std::string self = "synod-bench";
  argv.push_back(self.data());
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The path, not "/proc/self/exe" itself: under valgrind --trace-children
  // the latter execs valgrind's tool, while readlink reports this program
  // (how the --groups runs are profiled with callgrind, docs/benchmarks.md).
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string path = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : "";
  // A binary rebuilt while it runs reads as "... (deleted)": the old one
  // is still reachable through /proc/self/exe.
  if (path.empty() || path.ends_with(" (deleted)")) path = "/proc/self/exe";
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *why = fmt::format("fork failed: {}", std::strerror(errno));
    return -1;
  }
  if (pid == 0) {
    die_with_parent(parent);
    // Node 1 of a --groups run sends SIGUSR1 once every group has a leader,
    // which a majority suffices for: on a loaded machine a replica may still
    // be starting, and SIGUSR1's default action would kill it ("node 3 wrote
    // no result"). Blocked across exec, it waits pending until the replica
    // has set its handler (run_group_replica unblocks it).
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  for (auto& c : g_children) {
    pid_t expected = 0;
    if (c.compare_exchange_strong(expected, pid)) return pid;
  }
  kill(pid, SIGKILL);
  *why = "too many replica processes";
  return -1;
}

void stop_children(int grace_ms) {
  kill_all(SIGTERM);
  for (int waited = 0;; waited += 5) {
    bool alive = false;
    for (auto& c : g_children) {
      pid_t p = c.load();
      if (p <= 0) continue;
      int status = 0;
      pid_t r = waitpid(p, &status, WNOHANG);
      if (r == p || (r < 0 && errno == ECHILD))
        forget(p);
      else
        alive = true;
    }
    if (!alive) return;
    if (waited >= grace_ms) kill_all(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void install_child_reaper() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  std::atexit([] { kill_all(SIGKILL); });
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) {
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

void die_with_parent(pid_t expected_parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (expected_parent != 0 && getppid() != expected_parent) _exit(1);  // it died already
}

std::vector<pid_t> children() {
  std::vector<pid_t> out;
  for (auto& c : g_children)
    if (pid_t p = c.load(); p > 0) out.push_back(p);
  return out;
}

}  // namespace synod::bench
