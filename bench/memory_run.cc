// --transport memory: every replica in this process, on this thread, over
// the in-memory network (no faults, one step of delay). One loop iteration
// delivers what was sent in the previous one, runs every replica's Ready
// loop, and lets the clients propose again: no thread hop anywhere, so the
// figures are the cost of the core itself (plus the codec with --wire).
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <optional>
#include <unordered_map>

#include "prefault.h"
#include "process_stats.h"
#include "run.h"
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
    std::uint64_t applied_commands = 0;
    std::uint64_t applied_bytes = 0;  // the state machine: counts what it applies
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
  void apply(Node& n, const Ready& rd, std::uint64_t now);
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
        wire::decode_one(frame_, decoded, limits_).status != Status::ok) {
      failed_ = true;
      error_ = "a message failed to encode or decode";
      return;
    }
    net_.send(net_now_, n.id, m.to, std::move(decoded));
  }
}

void MemoryCluster::apply(Node& n, const Ready& rd, std::uint64_t now) {
  bool is_leader = &n == leader_;
  for (const Entry& e : rd.committed) {
    for (const std::string& c : e.value.commands()) n.applied_bytes += c.size();
    n.applied_commands += e.value.commands().size();
    if (is_leader) load_.slot_applied(now);
  }
  for (const ProposalOutcome& out : rd.outcomes) {
    auto r = untrack(n.id, out.ticket);
    if (!r) continue;
    load_.end(*r, now, out.outcome == Outcome::committed);
    idle_.push_back(*r);
  }
}

// The Ready loop of one replica: persist, send, apply, report.
void MemoryCluster::drain(Node& n, std::uint64_t now) {
  while (!failed_ && n.replica->has_ready()) {
    Ready rd = n.replica->ready();
    Status s = n.storage->save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
    if (s == Status::ok && rd.must_sync) s = n.storage->sync();
    if (s != Status::ok) {
      failed_ = true;
      error_ = fmt::format("storage of node {} failed: {}", n.id.value, to_string(s));
      return;
    }
    route(n, rd.messages);
    apply(n, rd, now);
    n.replica->advance(rd);
  }
}

void MemoryCluster::step_once(std::uint64_t now) {
  net_.deliver_due(++net_now_, [&](auto& d) { nodes_[d.to.value - 1].replica->step(d.payload); });
  for (Node& n : nodes_) drain(n, now);
  issue(now);
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
    if (p == Phase::done) break;
    if (now >= next_tick) tick_all(), next_tick += tick_ns;
    load_.progress(now);
    step_once(now);
  }
  ProcessUsage end = self_usage();
  std::uint64_t heap_end = heap_in_use();
  res.heap_growth_bytes = heap_end > heap_begin ? heap_end - heap_begin : 0;
  res.fault_bytes =
      (end.minor_faults - begin.minor_faults) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  res.ok = !failed_;
  res.error = error_;
  res.m = load_.measured();
  res.cpu_s = end.cpu_s - begin.cpu_s;
  res.peak_rss_bytes = end.peak_rss_bytes;
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
