// --transport memory: every replica in this process, on this thread, over
// the in-memory network (no faults, one step of delay). One loop iteration
// delivers what was sent in the previous one, runs every replica's Ready
// loop, and lets the clients propose again: no thread hop anywhere, so the
// figures are the cost of the core itself (plus the codec with --wire).
// Each replica applies to a BenchStateMachine and, with --snapshot-every,
// compacts its log, so a run of any length holds its memory flat.
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <optional>
#include <unordered_map>

#include "prefault.h"
#include "process_stats.h"
#include "rss_track.h"
#include "run.h"
#include "state_machine.h"
#include "synod/memory_network.h"
#include "synod/replica.h"

namespace synod::bench {

namespace {

class MemoryCluster {
 public:
  explicit MemoryCluster(const BenchOptions& o) : o_(o), load_(o), net_(1) {}
  ~MemoryCluster() { remove_run_dir(o_, run_dir_); }

  bool start(std::string* why);
  bool elect(std::string* why);
  RunResult run();

 private:
  struct Node {
    NodeId id;
    std::unique_ptr<Storage> storage;
    std::optional<Replica> replica;
    BenchStateMachine state;
    Slot snapshot_at{};  // the slot of this replica's last snapshot
  };
  // Which request a ticket of which replica belongs to. Tickets of one leader
  // are increasing, so a ring indexed by ticket finds them without hashing;
  // the map takes the rare collision (a leader change).
  struct Tracked {
    std::uint64_t node = 0;
    std::uint64_t ticket = 0;
    std::size_t request = 0;
  };

  void step_once(std::uint64_t now);
  void drain(Node& n, std::uint64_t now);
  bool persist(Node& n, const Ready& rd);
  void apply(Node& n, const Ready& rd, std::uint64_t now);
  void maybe_snapshot(Node& n);
  void settle();
  std::string check_states();
  void fail(std::string why);
  void route(Node& n, std::vector<Message>& messages);
  void issue(std::uint64_t now);
  void track(NodeId node, Ticket t, std::size_t request);
  std::optional<std::size_t> untrack(NodeId node, Ticket t);
  Node* find_leader();
  void tick_all();

  const BenchOptions& o_;
  Load load_;
  MemoryNetwork<Message> net_;
  std::vector<Node> nodes_;
  std::string run_dir_;
  Node* leader_ = nullptr;  // as of the last tick or refusal
  std::uint64_t net_now_ = 0;
  std::vector<Tracked> ring_;
  std::unordered_map<std::uint64_t, std::size_t> spill_;  // (node << 48 | ticket) -> request
  std::vector<std::size_t> idle_;                         // requests to issue
  std::vector<std::uint8_t> frame_;                       // --wire scratch
  wire::WireLimits limits_;
  RssTrack rss_;
  std::uint64_t snapshots_ = 0, restores_ = 0;
  bool failed_ = false;
  std::string error_;
};

bool MemoryCluster::start(std::string* why) {
  limits_ = wire_limits(o_);
  if (o_.storage == StorageKind::log && (run_dir_ = make_run_dir(o_, why)).empty()) return false;
  nodes_.resize(o_.replicas);
  for (std::uint64_t i = 0; i < o_.replicas; ++i) {
    Node& n = nodes_[i];
    n.id = NodeId{i + 1};
    n.storage = open_storage(o_, run_dir_, n.id, why);
    if (!n.storage) return false;
    n.replica.emplace(replica_config(o_, n.id), *n.storage);
  }
  std::size_t ring = 1;
  while (ring < 2 * load_.requests()) ring <<= 1;
  ring_.resize(ring);
  for (std::size_t i = 0; i < load_.requests(); ++i) idle_.push_back(i);
  return true;
}

MemoryCluster::Node* MemoryCluster::find_leader() {
  for (Node& n : nodes_)
    if (n.replica->info().role == Role::leader) return &n;
  return nullptr;
}

// Leadership changes only on ticks and elections: look it up then, not per
// proposal (info() builds a whole ReplicaInfo).
void MemoryCluster::tick_all() {
  for (Node& n : nodes_) n.replica->tick();
  leader_ = find_leader();
}

// Node 1 forces an election, as a host would for a planned leader.
bool MemoryCluster::elect(std::string* why) {
  nodes_[0].replica->campaign();
  std::uint64_t deadline = now_ns() + 10'000'000'000u;
  while (!(leader_ = find_leader())) {
    std::uint64_t now = now_ns();
    if (now > deadline || failed_) {
      *why = failed_ ? error_ : "no leader elected within 10 s";
      return false;
    }
    step_once(now);
    tick_all();
  }
  return true;
}

void MemoryCluster::track(NodeId node, Ticket t, std::size_t request) {
  Tracked& slot = ring_[t.value & (ring_.size() - 1)];
  if (slot.ticket != 0) {
    spill_[node.value << 48 | t.value] = request;
    return;
  }
  slot = Tracked{node.value, t.value, request};
}

std::optional<std::size_t> MemoryCluster::untrack(NodeId node, Ticket t) {
  Tracked& slot = ring_[t.value & (ring_.size() - 1)];
  if (slot.ticket == t.value && slot.node == node.value) {
    slot.ticket = 0;
    return slot.request;
  }
  auto it = spill_.find(node.value << 48 | t.value);
  if (it == spill_.end()) return std::nullopt;
  std::size_t r = it->second;
  spill_.erase(it);
  return r;
}

// Proposes every idle request to the leader.
void MemoryCluster::issue(std::uint64_t now) {
  if (idle_.empty() || load_.phase() == Phase::done) return;
  Node* l = leader_;
  if (!l) return;
  while (!idle_.empty()) {
    std::size_t r = idle_.back();
    ProposeResult p = l->replica->propose(load_.issue(r, now));
    if (!p.ok()) {
      load_.refused(r);
      if (p.status == Status::not_leader) leader_ = find_leader();
      return;
    }
    idle_.pop_back();
    track(l->id, p.ticket, r);
  }
}

void MemoryCluster::route(Node& n, std::vector<Message>& messages) {
  for (Message& m : messages) {
    if (!o_.wire) {
      net_.send(net_now_, n.id, m.to, std::move(m));
      continue;
    }
    // The codec on the path, as a TCP host has it: encode, then decode.
    frame_.clear();
    Message decoded;
    if (wire::encode(m, frame_, limits_) != Status::ok ||
        wire::decode_one(frame_, decoded, limits_).status != Status::ok)
      return fail("a message failed to encode or decode");
    net_.send(net_now_, n.id, m.to, std::move(decoded));
  }
}

void MemoryCluster::fail(std::string why) {
  if (failed_) return;
  failed_ = true;
  error_ = std::move(why);
}

// Step 1 of a Ready: a snapshot (and the compaction below its keep_from)
// before the hard state and entries, as ready.h orders it.
bool MemoryCluster::persist(Node& n, const Ready& rd) {
  Status s = Status::ok;
  if (rd.snapshot) s = n.storage->save_snapshot(*rd.snapshot, rd.keep_from);
  if (s == Status::ok) s = n.storage->save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
  if (s == Status::ok && rd.must_sync) s = n.storage->sync();
  if (s == Status::ok) return true;
  fail(fmt::format("storage of node {} failed: {}", n.id.value, to_string(s)));
  return false;
}

void MemoryCluster::apply(Node& n, const Ready& rd, std::uint64_t now) {
  bool is_leader = &n == leader_;
  if (rd.restore) {
    // This replica fell behind a peer's compaction point: its state machine
    // becomes the peer's image, and `committed` carries on from there.
    if (!n.state.restore(*rd.restore))
      return fail(fmt::format("node {} got a snapshot of slot {} it cannot restore", n.id.value,
                              rd.restore->meta.slot.value));
    n.snapshot_at = rd.restore->meta.slot;
    ++restores_;
  }
  for (const Entry& e : rd.committed) {
    n.state.apply(e);
    if (is_leader) load_.slot_applied(now);
  }
  for (const ProposalOutcome& out : rd.outcomes) {
    auto r = untrack(n.id, out.ticket);
    if (!r) continue;
    load_.end(*r, now, out.outcome == Outcome::committed);
    idle_.push_back(*r);
  }
}

// Every --snapshot-every applied slots, the state machine's image goes to
// Replica::compact; the replica's next Ready saves it and drops the log
// below it (but for Config::compaction_tail slots). The image is 24 bytes,
// so taking it on the loop costs nothing worth a background thread.
void MemoryCluster::maybe_snapshot(Node& n) {
  Slot at = n.state.applied();
  if (o_.snapshot_every == 0 || at.value < n.snapshot_at.value + o_.snapshot_every) return;
  Status s = n.replica->compact(at, n.state.image());
  // invalid_argument: a snapshot from a peer overtook this one; drop it.
  if (s != Status::ok && s != Status::invalid_argument)
    return fail(fmt::format("node {}: compact at slot {}: {}", n.id.value, at.value, to_string(s)));
  n.snapshot_at = at;
  if (s == Status::ok) ++snapshots_;
}

// The Ready loop of one replica: persist, send, apply, report.
void MemoryCluster::drain(Node& n, std::uint64_t now) {
  while (!failed_ && n.replica->has_ready()) {
    Ready rd = n.replica->ready();
    if (!persist(n, rd)) return;
    route(n, rd.messages);
    apply(n, rd, now);
    n.replica->advance(rd);
    maybe_snapshot(n);
  }
}

void MemoryCluster::step_once(std::uint64_t now) {
  net_.deliver_due(++net_now_, [&](auto& d) { nodes_[d.to.value - 1].replica->step(d.payload); });
  for (Node& n : nodes_) drain(n, now);
  issue(now);
}

// After the load stopped: run (and tick, so heartbeats carry the commit
// index) until every replica applied the same slot, for at most 2 s.
void MemoryCluster::settle() {
  std::uint64_t deadline = now_ns() + 2'000'000'000u, tick_ns = o_.tick_ms * 1'000'000u;
  std::uint64_t next_tick = now_ns();
  auto level = [&] {
    for (const Node& n : nodes_)
      if (n.state.applied() != nodes_[0].state.applied()) return false;
    return true;
  };
  for (std::uint64_t now = now_ns(); !failed_ && !level() && now < deadline; now = now_ns()) {
    if (now >= next_tick) tick_all(), next_tick = now + tick_ns;
    step_once(now);
  }
}

// The replicas applied the same commands in the same order, snapshots and
// restores included: equal digests at equal slots. A divergence fails the run.
std::string MemoryCluster::check_states() {
  const BenchStateMachine& a = nodes_[0].state;
  unsigned same = 0;
  for (const Node& n : nodes_) {
    if (n.state.applied() != a.applied()) continue;  // did not settle: nothing to compare
    ++same;
    if (n.state.commands() == a.commands() && n.state.digest() == a.digest()) continue;
    fail(fmt::format(
        "state machines diverged at slot {}: node 1 applied {} commands (digest {:016x}), "
        "node {} applied {} (digest {:016x})",
        a.applied().value, a.commands(), a.digest(), n.id.value, n.state.commands(),
        n.state.digest()));
    return {};
  }
  return fmt::format("{} of {} replicas agree at slot {}: {} commands, digest {:016x}", same,
                     nodes_.size(), a.applied().value, a.commands(), a.digest());
}

RunResult MemoryCluster::run() {
  RunResult res;
  std::uint64_t now = now_ns();
  std::uint64_t tick_ns = o_.tick_ms * 1'000'000u, next_tick = now + tick_ns;
  ProcessUsage begin{};
  std::uint64_t heap_begin = 0;
  load_.start(now);
  issue(now);
  while (!failed_) {
    now = now_ns();
    Phase before = load_.phase();
    Phase p = load_.advance(now);
    if (before == Phase::warmup && p != Phase::warmup)
      begin = self_usage(), heap_begin = heap_in_use();
    if (p != Phase::warmup) rss_.at(load_.window_fraction(now), [] { return current_rss_bytes(); });
    if (p == Phase::done) break;
    if (now >= next_tick) tick_all(), next_tick += tick_ns;
    if (load_.progress_due(now))
      load_.print_progress(now, fmt::format(", RSS {} MiB", current_rss_bytes() >> 20));
    step_once(now);
  }
  ProcessUsage end = self_usage();
  std::uint64_t heap_end = heap_in_use();
  settle();
  res.states = check_states();
  res.heap_growth_bytes = heap_end > heap_begin ? heap_end - heap_begin : 0;
  res.fault_bytes =
      (end.minor_faults - begin.minor_faults) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  res.ok = !failed_;
  res.error = error_;
  res.m = load_.measured();
  res.cpu_s = end.cpu_s - begin.cpu_s;
  res.peak_rss_bytes = end.peak_rss_bytes;
  res.rss_tenths = rss_.samples();
  res.snapshots = snapshots_;
  res.restores = restores_;
  res.processes = 1;
  return res;
}

}  // namespace

RunResult run_memory(const BenchOptions& o) {
  if (std::uint64_t bytes = prefault_bytes(o)) {
    fmt::print(stderr,
               "synod-bench: pre-faulting {} MiB of heap (--prefault-mb; docs/benchmarks.md)\n",
               bytes >> 20);
    prefault_heap(bytes);
  }
  reset_peak_rss();
  RunResult res;
  auto cluster = std::make_unique<MemoryCluster>(o);
  std::string why;
  if (!cluster->start(&why) || !cluster->elect(&why)) {
    res.ok = false;
    res.error = why;
    return res;
  }
  RunResult r = cluster->run();
  cluster.reset();
  // Give the log's memory back to the kernel, so the next run of a
  // --repeat or --sweep starts as cold as this one did and its peak RSS is
  // its own.
  malloc_trim(0);
  return r;
}

}  // namespace synod::bench
