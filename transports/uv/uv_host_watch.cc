// UvHost's watching of its own loop and of its replica's role: the tick
// timer (and its lateness), the busy time of each loop iteration, and the
// role and leader changes that INFO counts and the log tells.
#include <fmt/format.h>
#include <time.h>

#include <algorithm>

#include "replica_driver.h"
#include "synod/uv_host.h"

namespace synod {
namespace {

constexpr std::uint64_t kNsPerMs = 1'000'000;
// Stalls are logged at most once a second; the others are counted and the
// next line says how many it stands for.
constexpr std::uint64_t kStallLogEveryNs = 1'000'000'000;

std::uint64_t ms(std::uint64_t ns) { return ns / kNsPerMs; }

// CPU time of the calling (loop) thread: busy wall time minus this is time
// the thread was runnable but not running (other processes had the CPUs).
std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

// A libuv repeating timer that fires late (the loop was busy, or the
// process was not scheduled) fires once, not once per missed period. A
// follower ticks once too: its election clock runs slow, never fast, so a
// busy follower does not time out a leader whose heartbeats wait unread in
// its socket. A leader ticks the missed periods up to a heartbeat period, so
// a late timer sends the heartbeat that is due however long its iterations
// are, but its check-quorum window does not race ahead of the acks still
// unread in its sockets; with lease reads it ticks every missed period (up
// to an election timeout): a lease must never outlive real time
// (docs/protocol.md).
void UvHost::on_tick_timer() {
  if (!replica_ || failed_) return;
  std::uint64_t now = uv_hrtime();
  std::uint64_t period = opt_.tick_ms * kNsPerMs;
  std::uint64_t elapsed = now - last_tick_ns_;
  // The timer firing just after read() caught the clock up: that period is
  // ticked already (a clock may run slow, never fast).
  if (elapsed < period / 2) return;
  std::uint64_t periods = std::max<std::uint64_t>(1, elapsed / period);
  last_tick_ns_ = now;
  if (elapsed > period) tick_late_ns_ = std::max(tick_late_ns_, elapsed - period);
  std::uint64_t ticks = 1;
  if (periods > 1 && replica_->info().role == Role::leader)
    ticks = std::min<std::uint64_t>(periods, opt_.config.lease_reads ? opt_.config.election_ticks
                                                                     : opt_.config.heartbeat_ticks);
  stats_.ticks_skipped += periods - std::min(periods, ticks);
  for (std::uint64_t i = 0; i < ticks && replica_ && !failed_; ++i) replica_->tick();
  observe_role();
  schedule();
}

// Runs once per loop iteration, just before the poll: the time since the
// previous one, less the time the poll slept, is what the loop spent in
// callbacks meanwhile.
void UvHost::on_iteration_end() {
  std::uint64_t now = uv_hrtime();
  std::uint64_t idle = uv_metrics_idle_time(loop_);
  std::uint64_t wall = now - last_prepare_ns_;
  std::uint64_t slept = std::min(wall, idle - last_idle_ns_);
  std::uint64_t busy = wall - slept;
  std::uint64_t cpu_now = thread_cpu_ns();
  std::uint64_t cpu = std::min(busy, cpu_now - last_cpu_ns_);
  last_prepare_ns_ = now;
  last_idle_ns_ = idle;
  last_cpu_ns_ = cpu_now;
  std::uint64_t threshold = opt_.stall_ms * kNsPerMs;
  std::uint64_t worst = std::max(busy, tick_late_ns_);
  if (opt_.stall_ms > 0 && worst > threshold) {
    ++stats_.loop_stalls;
    stats_.longest_stall_ms = std::max(stats_.longest_stall_ms, ms(worst));
    if (now - last_stall_log_ns_ >= kStallLogEveryNs) {
      std::string cause;
      if (busy > threshold) {
        // Sending and the snapshot happen inside the Ready loop (apply_ns_).
        const IterationWork& w = *work_;
        std::uint64_t apply = w.apply_ns - std::min(w.apply_ns, w.snapshot_ns + w.send_ns);
        std::uint64_t host = std::max(w.apply_ns, w.snapshot_ns + w.send_ns) + w.step_ns;
        cause = fmt::format(
            "the loop was busy {} ms (on the CPU {} ms, waiting for one {} ms): applying and "
            "persisting {} ms ({} commands), sending {} ms "
            "({} messages, {} KiB), snapshot {} ms, stepping received messages {} ms, other "
            "callbacks (clients, transport) {} ms",
            ms(busy), ms(cpu), ms(busy - cpu), ms(apply), w.applied, ms(w.send_ns), w.sent,
            w.sent_bytes / 1024, ms(w.snapshot_ns), ms(w.step_ns), ms(busy - std::min(busy, host)));
      } else {
        cause =
            "the loop was not busy: the process was not scheduled (CPU starved) or the clock "
            "jumped";
      }
      log(fmt::format("loop stall: tick timer {} ms late; {}{}", ms(tick_late_ns_), cause,
                      stalls_unlogged_
                          ? fmt::format(" (and {} stalls since the last line)", stalls_unlogged_)
                          : ""));
      last_stall_log_ns_ = now;
      stalls_unlogged_ = 0;
    } else {
      ++stalls_unlogged_;
    }
  }
  tick_late_ns_ = 0;
  IterationWork& w = *work_;
  w.apply_ns = w.snapshot_ns = w.step_ns = w.send_ns = 0;
  w.applied = w.sent = w.sent_bytes = 0;
}

// Role changes come from ticks (elections, check-quorum) and from messages
// (a higher ballot, a won campaign): looked at after both.
void UvHost::observe_role() {
  if (!replica_) return;
  ReplicaInfo i = replica_->info();
  if (i.role == Role::candidate && (seen_role_ != Role::candidate || i.ballot != seen_ballot_)) {
    ++stats_.elections_started;
    log(fmt::format("starts an election with ballot {}.{} (leader was {})", i.ballot.round,
                    i.ballot.node.value, seen_leader_.value));
  }
  if (i.role == Role::leader && seen_role_ != Role::leader)
    log(fmt::format("became leader with ballot {}.{}", i.ballot.round, i.ballot.node.value));
  if (seen_role_ == Role::leader && i.role != Role::leader)
    log(fmt::format("stepped down: now {}, leader {}", to_string(i.role),
                    i.leader.valid() ? std::to_string(i.leader.value) : "unknown"));
  if (i.leader.valid() && i.leader != seen_leader_) {
    if (seen_leader_.valid()) {
      ++stats_.leader_changes;
      log(fmt::format("new leader: node {} (was node {})", i.leader.value, seen_leader_.value));
    } else {
      log(fmt::format("leader: node {}", i.leader.value));
    }
    seen_leader_ = i.leader;
  }
  seen_role_ = i.role;
  seen_ballot_ = i.ballot;
}

}  // namespace synod
