// The kill -9 loop's writer and checker (see kill_loop.h).
#include "kill_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>

#include "synod/log_writer.h"

extern char** environ;

namespace synod::test {

Value value_for_slot(std::uint64_t slot) {
  std::vector<std::string> commands;
  std::uint64_t h = slot * 0x9E3779B97F4A7C15ull;
  for (std::uint64_t i = 0; i <= slot % 3; ++i) {
    std::size_t bytes = 1 + (h >> (8 * i)) % 300;
    std::string c = "slot " + std::to_string(slot) + "/" + std::to_string(i) + " ";
    while (c.size() < bytes) c.push_back(char('a' + (c.size() * 7 + slot) % 26));
    commands.push_back(c);
  }
  return Value::of_commands(std::move(commands));
}

std::string snapshot_data_for(std::uint64_t slot) {
  // Sizes up to 512 KiB: a file write of its own on every snapshot.
  std::string s = "snapshot " + std::to_string(slot) + " ";
  std::size_t bytes = 1 + (slot * 7919) % (512u << 10);
  while (s.size() < bytes) s.push_back(char('a' + (s.size() * 13 + slot) % 26));
  s.resize(bytes);
  return s;
}

namespace {

Snapshot writer_snapshot(std::uint64_t slot) {
  SnapshotMeta meta{Slot{slot}, kWriterBallot, Membership{{NodeId{1}}, {}}, {}, {}};
  return Snapshot::of(std::move(meta), snapshot_data_for(slot));
}

}  // namespace

LogOptions writer_log_options(std::uint64_t seed) {
  LogOptions o;
  o.segment_bytes = 64u << 10;  // many rolls and compactions per run
  // Writers alternate between fallocated segments and segments zeroed ahead
  // (spares on a thread of their own, a segment kept over a restart because
  // its header says zeroed), so that one log sees both and every switch.
  o.preallocation = seed % 2 == 0 ? Preallocation::allocate : Preallocation::write_zeros;
  // Every other zeroing writer recycles the segments compaction drops, so
  // that logs mix recycled segments (stale records past their end) with
  // zeroed and fallocated ones, and writers of either kind reopen them.
  o.recycle_segments = seed % 4 == 3;
  return o;
}

namespace {

void say(const std::string& line) {
  std::string l = line + "\n";
  // One write(2) per line: a pipe write this small is atomic, so a kill
  // never leaves half a line.
  if (::write(1, l.data(), l.size()) < 0) _exit(4);
}

}  // namespace

int run_writer(const std::string& dir, std::uint64_t seed) {
  LogStorage::OpenResult opened = LogStorage::open(dir, writer_log_options(seed));
  if (!opened.ok()) {
    say("error " + opened.error);
    return 3;
  }
  LogStorage& log = *opened.storage;
  std::uint64_t slot = log.entries().empty() ? 0 : log.entries().back().slot.value;
  std::mutex mutex;
  std::condition_variable cv;
  std::map<std::uint64_t, std::uint64_t> last_slot_of;  // sequence -> last slot in it
  std::map<std::uint64_t, std::uint64_t> snapshot_of;   // sequence -> snapshot slot in it
  LogWriter writer(log, [&](std::uint64_t d, Status st) {
    std::lock_guard lock(mutex);
    if (st != Status::ok) {
      say("error " + log.error());
      _exit(5);
    }
    auto it = last_slot_of.upper_bound(d);
    if (it != last_slot_of.begin()) say("durable " + std::to_string(std::prev(it)->second));
    last_slot_of.erase(last_slot_of.begin(), it);
    auto snap = snapshot_of.upper_bound(d);
    if (snap != snapshot_of.begin()) say("snapshot " + std::to_string(std::prev(snap)->second));
    snapshot_of.erase(snapshot_of.begin(), snap);
    cv.notify_all();
  });
  std::mt19937_64 rng(seed);
  while (true) {
    std::vector<Entry> entries;
    for (std::uint64_t n = 1 + rng() % 4; n > 0; --n) {
      ++slot;
      entries.push_back(Entry{Slot{slot}, kWriterBallot, value_for_slot(slot)});
    }
    HardState hs{kWriterBallot, Slot{slot}, true};
    // Now and then the Ready carries a snapshot of an earlier slot, which
    // keeps kSnapshotTail entries below it.
    std::optional<Snapshot> snap;
    constexpr std::uint64_t kLag = 100;  // the snapshot is of an earlier slot
    if (slot % 250 < entries.size() && slot > 300 && slot - kLag > log.snapshot().meta.slot.value) {
      snap = writer_snapshot(slot - kLag);
      // Reported before it is staged: the checker takes it as a floor.
      say("compact " + std::to_string(slot - kLag - kSnapshotTail));
    }
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return last_slot_of.size() < 32; });  // bounded in flight
    Slot keep_from{snap ? snap->meta.slot.value - kSnapshotTail : 0};
    LogWriter::Submitted sub = writer.submit(snap ? &*snap : nullptr, keep_from, &hs, entries);
    if (!sub.ok()) return 6;
    last_slot_of[sub.sequence] = slot;
    if (snap) snapshot_of[sub.sequence] = snap->meta.slot.value;
    if (slot % 200 < entries.size() && slot > 300) {
      say("compact " + std::to_string(slot - 300));
      writer.request_compaction(Slot{slot - 300});
    }
  }
}

namespace {

struct Child {
  pid_t pid = -1;
  int out_fd = -1;
};

Child spawn_writer(const KillLoopOptions& o, std::uint64_t seed) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  std::string seed_text = std::to_string(seed);
  std::vector<std::string> args = {o.writer_path, "write", o.dir, seed_text};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, o.writer_path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return {};
  }
  return {pid, fds[0]};
}

// Reads the child's lines until the deadline (or EOF when deadline is null).
void read_lines(int fd, std::string& buffer, std::chrono::steady_clock::time_point* deadline) {
  char chunk[4096];
  while (true) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      timeout_ms = static_cast<int>(left.count());
    }
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return;  // EOF: the child is gone
    buffer.append(chunk, static_cast<std::size_t>(got));
  }
}

// What the writer reported: the highest durable slot and snapshot, and the
// compaction point.
std::string parse_reports(const std::string& text, std::uint64_t* max_durable,
                          std::uint64_t* max_snapshot, std::uint64_t* floor) {
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    if (word == "error") {
      std::string rest;
      std::getline(in, rest);
      return "writer failed:" + rest;
    }
    std::uint64_t n = 0;
    in >> n;
    if (word == "durable") *max_durable = std::max(*max_durable, n);
    if (word == "snapshot") *max_snapshot = std::max(*max_snapshot, n);
    if (word == "compact") *floor = std::max(*floor, n);
  }
  return {};
}

// The snapshot is one the writer made, intact, at least the last reported
// durable; no entry below its keep_from survives.
std::string check_snapshot(const LogStorage& log, std::uint64_t max_snapshot) {
  Snapshot snap = log.snapshot();
  std::uint64_t slot = snap.meta.slot.value;
  if (slot < max_snapshot)
    return "snapshot " + std::to_string(max_snapshot) + " was reported durable, the log has " +
           std::to_string(slot);
  if (snap.empty()) return {};
  if (snap.meta != writer_snapshot(slot).meta || *snap.data != snapshot_data_for(slot))
    return "snapshot " + std::to_string(slot) + " differs from what was written";
  std::vector<Entry> es = log.entries();
  if (!es.empty() && es.front().slot.value < slot - kSnapshotTail)
    return "snapshot " + std::to_string(slot) + " left slot " +
           std::to_string(es.front().slot.value) + " below its keep_from";
  return {};
}

// Every slot reported durable is there with its value; no hole; the hard
// state matches the last batch; the snapshot checks out.
std::string check_log(const KillLoopOptions& o, std::uint64_t max_durable,
                      std::uint64_t max_snapshot, std::uint64_t floor, int* truncations) {
  LogStorage::OpenResult r = LogStorage::open(o.dir, writer_log_options(max_durable));
  if (!r.ok()) return "recovery failed: " + r.error;
  if (!r.report.truncated_file.empty()) ++*truncations;
  if (std::string why = check_snapshot(*r.storage, max_snapshot); !why.empty()) return why;
  std::vector<Entry> es = r.storage->entries();
  if (es.empty()) return max_durable == 0 ? "" : "every entry is gone";
  for (std::size_t i = 0; i < es.size(); ++i) {
    if (i > 0 && es[i].slot.value != es[i - 1].slot.value + 1)
      return "hole after slot " + std::to_string(es[i - 1].slot.value);
    if (es[i].ballot != kWriterBallot || !(es[i].value == value_for_slot(es[i].slot.value)))
      return "wrong value at slot " + std::to_string(es[i].slot.value);
  }
  if (es.back().slot.value < max_durable)
    return "slot " + std::to_string(max_durable) + " was reported durable, the log ends at " +
           std::to_string(es.back().slot.value);
  if (es.front().slot.value > std::max<std::uint64_t>(floor, 1))
    return "compaction below " + std::to_string(floor) + " dropped slot " +
           std::to_string(es.front().slot.value - 1);
  HardState hs = r.storage->hard_state();
  if (hs.commit != es.back().slot || hs.promised != kWriterBallot)
    return "hard state commit " + std::to_string(hs.commit.value) + " but log ends at " +
           std::to_string(es.back().slot.value);
  return {};
}

}  // namespace

KillLoopResult run_kill_loop(const KillLoopOptions& o) {
  KillLoopResult result;
  std::mt19937_64 rng(o.seed);
  std::uint64_t floor = 0;
  std::uint64_t max_snapshot = 0;
  for (int i = 0; i < o.kills && result.error.empty(); ++i) {
    Child child = spawn_writer(o, rng());
    if (child.pid < 0) {
      result.error = "cannot start " + o.writer_path;
      break;
    }
    auto run_ms =
        o.run_ms_min + static_cast<int>(rng() % std::uint64_t(o.run_ms_max - o.run_ms_min + 1));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
    std::string out;
    read_lines(child.out_fd, out, &deadline);
    ::kill(child.pid, SIGKILL);
    read_lines(child.out_fd, out, nullptr);  // lines written before the kill count too
    ::close(child.out_fd);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    ++result.kills;
    std::uint64_t max_durable = result.max_durable_slot;
    result.error = parse_reports(out, &max_durable, &max_snapshot, &floor);
    if (result.error.empty() && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
      result.error = "the writer exited by itself with status " + std::to_string(status);
    if (!result.error.empty()) break;
    result.max_durable_slot = max_durable;
    std::string why = check_log(o, max_durable, max_snapshot, floor, &result.truncations);
    if (!why.empty()) result.error = "after kill " + std::to_string(i + 1) + ": " + why;
  }
  return result;
}

}  // namespace synod::test
