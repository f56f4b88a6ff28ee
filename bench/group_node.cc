#include "group_node.h"

#include <fmt/format.h>

#include <sstream>

#include "process_stats.h"
#include "run.h"

namespace synod::bench {

namespace {
constexpr std::uint64_t kControlMs = 5;
}

std::string GroupNodeResult::to_line() const {
  return fmt::format("{} {:.6f} {} {} {} {} {} {:.6f} {} {}\n", ops, seconds, p50_ns, p99_ns,
                     log_batches, failed, refused, cpu_s, frames_sent, writes);
}

bool GroupNodeResult::from_line(const std::string& line, GroupNodeResult& out) {
  std::istringstream in(line);
  return static_cast<bool>(in >> out.ops >> out.seconds >> out.p50_ns >> out.p99_ns >>
                           out.log_batches >> out.failed >> out.refused >> out.cpu_s >>
                           out.frames_sent >> out.writes);
}

GroupNode::GroupNode(uv_loop_t* loop, const BenchOptions& o, NodeId id, std::string run_dir)
    : loop_(loop), o_(o), id_(id), run_dir_(std::move(run_dir)) {
  // This process's clients: global client k proposes to group k % N + 1.
  for (std::uint64_t k = 0; k < o.clients; ++k) {
    GroupId g{k % o.groups + 1};
    if (placed_leader(g) == id_) client_group_.push_back(g);
  }
  o_.clients = static_cast<std::uint32_t>(client_group_.size());
}

GroupNode::~GroupNode() = default;

void GroupNode::log(std::string_view line) const {
  bool routine = line.starts_with("connected to node") || line.starts_with("lost connection") ||
                 line.find("reconnected") != std::string_view::npos;
  if (o_.verbose || !routine) fmt::print(stderr, "synod-bench node {}: {}\n", id_.value, line);
}

NodeId GroupNode::placed_leader(GroupId group) const {
  return NodeId{(group.value - 1) % o_.replicas + 1};
}

bool GroupNode::start(std::uint64_t cluster_id, std::string* why) {
  GroupHostOptions h;
  h.self = id_;
  h.tick_ms = o_.tick_ms;
  h.heartbeat_ticks = 1;
  h.election_ticks = o_.election_ticks;
  h.limits = wire_limits(o_);
  h.balance_ms = 0;  // the bench places the leaders
  h.log_line = [this](std::string_view line) { log(line); };
  if (o_.storage == StorageKind::log) {
    std::string dir = fmt::format("{}/node-{}", run_dir_, id_.value);
    auto opened = GroupLog::open(dir, GroupLogOptions{});
    if (!opened.ok()) {
      *why = fmt::format("cannot open the group log in {}: {}", dir, opened.error);
      return false;
    }
    log_ = std::move(opened.log);
    h.log = log_.get();
  }
  TcpTransportOptions t;
  t.self = id_;
  t.cluster_id = cluster_id;
  for (std::uint64_t i = 1; i <= o_.ports.size(); ++i) {
    std::string addr = fmt::format("127.0.0.1:{}", o_.ports[i - 1]);
    if (i == id_.value)
      t.listen_address = addr;
    else
      t.peers.push_back(Peer{NodeId{i}, addr});
  }
  t.frame_bytes_max = h.limits.frame_bytes_max;
  t.log = [this](std::string_view line) { log(line); };
  transport_ = std::make_unique<TcpTransport>(loop_, t);
  host_ = std::make_unique<GroupHost>(loop_, *transport_, h);
  if (host_->start(why) != Status::ok) {
    if (why->empty()) *why = "the group host did not start";
    return false;
  }
  applied_.assign(o_.groups + 1, 0);
  for (std::uint64_t g = 1; g <= o_.groups; ++g) {
    GroupOptions go;
    go.config = replica_config(o_, id_);
    go.config.group = GroupId{g};
    go.config.election_ticks = o_.election_ticks;  // the same for every node: GroupSet's
    go.config.seed = 0;                            // drawn by the host
    std::uint64_t* count = &applied_[g];
    go.apply = [count](Slot, std::string_view) {
      ++*count;
      return std::string{};
    };
    // The state machine is a count: its image is tiny, so compaction is cheap.
    go.snapshot_every_slots = o_.snapshot_every;
    go.snapshot = [count] { return std::to_string(*count); };
    go.restore = [count](const Snapshot& s) { *count = std::stoull("0" + *s.data); };
    if (host_->add_group(go, why) != Status::ok) return false;
    if (placed_leader(GroupId{g}) == id_) host_->campaign(GroupId{g});
  }
  return true;
}

void GroupNode::stop() {
  finished_ = true;
  if (control_) {
    uv_close(reinterpret_cast<uv_handle_t*>(control_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    control_ = nullptr;
  }
  if (host_) host_->stop();
  if (transport_) transport_->stop();
}

std::size_t GroupNode::unled(NodeId dead) const {
  std::size_t n = 0;
  for (std::uint64_t g = 1; g <= o_.groups; ++g) {
    std::optional<ReplicaInfo> i = host_->info(GroupId{g});
    if (!i || !i->leader.valid() || i->leader == dead) ++n;
  }
  return n;
}

void GroupNode::start_load(std::function<void()> done) {
  done_ = std::move(done);
  load_ = std::make_unique<Load>(o_);
  load_->start(now_ns());
  control_ = new uv_timer_t;
  uv_timer_init(loop_, control_);
  control_->data = this;
  uv_timer_start(
      control_, [](uv_timer_t* t) { static_cast<GroupNode*>(t->data)->on_control(); }, kControlMs,
      kControlMs);
  for (std::size_t r = 0; r < load_->requests(); ++r) issue(r);
}

void GroupNode::issue(std::size_t r) {
  std::uint64_t now = now_ns();
  GroupId g = client_group_[r / o_.outstanding];
  ProposeResult p = host_->propose(g, load_->issue(r, now),
                                   [this, r](const ProposalOutcome& out, const std::string&) {
                                     if (finished_) return;
                                     load_->end(r, now_ns(), out.outcome == Outcome::committed);
                                     if (load_->advance(now_ns()) != Phase::done) issue(r);
                                   });
  if (!p.ok()) {
    load_->refused(r);
    idle_.push_back(r);
  }
}

void GroupNode::on_control() {
  if (finished_ || !load_) return;
  Phase p = load_->advance(now_ns());
  if (!measuring_ && p != Phase::warmup) {
    measuring_ = true;
    batches_at_begin_ = host_->stats().log_batches;
    cpu_at_begin_ = self_usage().cpu_s;
    transport_at_begin_ = transport_->stats();
  }
  if (p == Phase::done) {
    finished_ = true;
    const Measured& m = load_->measured();
    result_.ops = m.ops;
    result_.seconds = m.seconds;
    result_.p50_ns = m.latency.quantile(0.5);
    result_.p99_ns = m.latency.quantile(0.99);
    result_.log_batches = host_->stats().log_batches - batches_at_begin_;
    result_.failed = m.failed;
    result_.refused = m.refused;
    result_.cpu_s = self_usage().cpu_s - cpu_at_begin_;
    TcpTransportStats t = transport_->stats();
    result_.frames_sent = t.frames_sent - transport_at_begin_.frames_sent;
    result_.writes = t.writes - transport_at_begin_.writes;
    uv_timer_stop(control_);
    if (done_) done_();
    return;
  }
  std::vector<std::size_t> again;
  again.swap(idle_);
  for (std::size_t r : again) issue(r);
}

}  // namespace synod::bench
