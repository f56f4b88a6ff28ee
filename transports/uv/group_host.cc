// GroupHost: lifecycle, groups coming and going, and the per-group calls.
// The loop's work (frames, ticks, the Ready loop, durability) is in
// group_host_loop.cc, leader balancing in group_host_balance.cc.
#include "synod/group_host.h"

#include <fmt/format.h>

#include "group_host_group.h"
#include "loop_wake.h"
#include "synod/seed.h"

namespace synod {

GroupHost::GroupHost(uv_loop_t* loop, Transport& transport, GroupHostOptions options)
    : loop_(loop),
      transport_(transport),
      opt_(std::move(options)),
      work_(std::make_unique<IterationWork>()) {
  work_->apply_per_iteration = opt_.apply_per_iteration;
}

GroupHost::~GroupHost() {
  if (writer_) writer_->stop();
  // The transport outlives the host and may go on receiving: its handler
  // must not call into a destroyed host. (A no-op, not an empty function:
  // a Transport may call its handler unchecked.)
  transport_.set_handler([](NodeId, std::span<const std::uint8_t>) {});
}

void GroupHost::log(std::string_view line) const {
  if (opt_.log_line) return opt_.log_line(line);
  fmt::print(stderr, "synod group host [{}]: {}\n", opt_.self.value, line);
}

GroupHost::Group* GroupHost::find(GroupId group) const {
  auto it = groups_.find(group.value);
  return it == groups_.end() || it->second->failed ? nullptr : it->second.get();
}

Status GroupHost::start(std::string* why) {
  GroupSetOptions so;
  so.self = opt_.self;
  so.heartbeat_ticks = opt_.heartbeat_ticks;
  so.election_ticks = opt_.election_ticks;
  so.incarnation = startup_seed(opt_.self);
  std::string reason;
  if (Status s = so.validate(&reason); s != Status::ok) {
    log("invalid options: " + reason);
    if (why) *why = reason;
    return s;
  }
  if (opt_.tick_ms == 0) {
    if (why) *why = "tick_ms must be above 0";
    return Status::invalid_config;
  }
  set_ = std::make_unique<GroupSet>(so);
  transport_.set_handler(
      [this](NodeId from, std::span<const std::uint8_t> f) { on_frame(from, f); });
  if (Status s = transport_.start(); s != Status::ok) {
    if (why) *why = "transport failed to start";
    return s;
  }
  tick_timer_ = new uv_timer_t;
  uv_timer_init(loop_, tick_timer_);
  tick_timer_->data = this;
  uv_timer_start(
      tick_timer_, [](uv_timer_t* t) { static_cast<GroupHost*>(t->data)->on_tick(); }, opt_.tick_ms,
      opt_.tick_ms);
  if (opt_.balance_ms > 0) {
    balance_timer_ = new uv_timer_t;
    uv_timer_init(loop_, balance_timer_);
    balance_timer_->data = this;
    uv_timer_start(
        balance_timer_, [](uv_timer_t* t) { static_cast<GroupHost*>(t->data)->balance(); },
        opt_.balance_ms, opt_.balance_ms);
  }
  idle_ = new uv_idle_t;
  uv_idle_init(loop_, idle_);
  idle_->data = this;
  if (opt_.log) {
    // Not a uv_async_t: its loop side spins against the writer thread
    // (loop_wake.h).
    durable_wake_ = new detail::LoopWake;
    if (!durable_wake_->start(loop_, [this] { on_durable(); })) {
      close_handles();
      if (why) *why = "no eventfd for the log writer's wake-ups";
      return Status::unavailable;
    }
    writer_ = std::make_unique<GroupLogWriter>(*opt_.log, [this](std::uint64_t d, Status st) {
      // Writer thread: publish, then wake the loop.
      if (st != Status::ok) writer_status_.store(st);
      durable_.store(d);
      durable_wake_->wake();
    });
  }
  started_ = true;
  return Status::ok;
}

void GroupHost::close_handles() {
  // The writer is stopped before this: nothing wakes the loop any more.
  if (durable_wake_) durable_wake_->close();
  durable_wake_ = nullptr;
  for (auto* h :
       {reinterpret_cast<uv_handle_t*>(tick_timer_), reinterpret_cast<uv_handle_t*>(balance_timer_),
        reinterpret_cast<uv_handle_t*>(idle_)}) {
    if (!h || uv_is_closing(h)) continue;
    uv_close(h, [](uv_handle_t* handle) {
      if (handle->type == UV_TIMER)
        delete reinterpret_cast<uv_timer_t*>(handle);
      else
        delete reinterpret_cast<uv_idle_t*>(handle);
    });
  }
  tick_timer_ = balance_timer_ = nullptr;
  idle_ = nullptr;
}

void GroupHost::stop() {
  if (writer_) writer_->stop();  // flushes; no callback after this returns
  close_handles();
  started_ = false;
  auto groups = std::move(groups_);
  for (auto& [id, g] : groups)
    if (g->driver) g->driver->abandon();
  groups.clear();
  set_.reset();
}

Status GroupHost::add_group(GroupOptions group, std::string* why) {
  if (!started_ || failed_) return Status::unavailable;
  Config& c = group.config;
  GroupId id = c.group;
  if (groups_.count(id.value)) {
    if (why) *why = fmt::format("group {} is here already", id.value);
    return Status::invalid_argument;
  }
  if (c.id != opt_.self) {
    if (why) *why = fmt::format("config.id {} is not this node ({})", c.id.value, opt_.self.value);
    return Status::invalid_config;
  }
  c.quiesce = true;
  // Seeds must not repeat across restarts (Config::seed): one draw per
  // group would read the OS's entropy thousands of times, so the group id
  // is mixed into one draw per add.
  if (c.seed == Config{}.seed)
    c.seed = startup_seed(opt_.self) ^ (id.value * 0x9e3779b97f4a7c15ull);
  auto g = std::make_unique<Group>();
  g->id = id;
  Storage* storage = nullptr;
  if (opt_.log) {
    // Its removal must be durable first (rare: blocks for one sync).
    if (auto r = removing_.find(id.value); r != removing_.end()) {
      if (durable_.load() < r->second && writer_) writer_->flush();
      removing_.erase(r);
    }
    storage = &opt_.log->group(id);
  } else {
    g->memory = std::make_unique<MemoryStorage>(false);
    storage = g->memory.get();
  }
  std::string reason;
  if (Status s = set_->add(c, *storage, &reason); s != Status::ok) {
    if (why) *why = reason;
    return s;
  }
  Replica* replica = set_->find(id);
  g->user_on_membership = std::move(group.on_membership);
  Group* raw = g.get();
  ReplicaHooks hooks{group.apply,
                     group.restore,
                     group.snapshot_every_slots,
                     group.snapshot_every_bytes,
                     group.snapshot,
                     group.snapshot_begin,
                     [this, raw](const Membership& m) {
                       membership_changed(raw->id, raw->membership, m);
                       raw->membership = m;
                       if (raw->user_on_membership) raw->user_on_membership(m);
                     }};
  ReplicaPersistence persistence;
  if (writer_) {
    persistence.submit = [this, id](const Ready& rd, std::uint64_t* sequence) {
      GroupLogWriter::Submitted sub =
          writer_->submit(id, rd.snapshot ? &*rd.snapshot : nullptr, rd.keep_from,
                          rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
      *sequence = sub.sequence;
      return sub.status;
    };
  } else {
    MemoryStorage* memory = g->memory.get();
    persistence.persist = [memory](const Ready& rd) {
      Status s = Status::ok;
      if (rd.snapshot) s = memory->save_snapshot(*rd.snapshot, rd.keep_from);
      if (s == Status::ok) s = memory->save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
      if (s == Status::ok && rd.must_sync) s = memory->sync();
      return s;
    };
  }
  g->driver = std::make_unique<ReplicaDriver>(
      *replica, c.applied, std::move(hooks), std::move(persistence), *work_,
      [this](const Message& m) { send_now(m); },
      [this, id](std::string_view w) { fail_group(id, w); },
      [this, id](std::string_view line) { log(fmt::format("group {}: {}", id.value, line)); });
  groups_.emplace(id.value, std::move(g));
  raw->driver->report_membership(replica->info().membership);
  set_->touch(id);
  schedule();
  return Status::ok;
}

Status GroupHost::remove_group(GroupId group) {
  auto it = groups_.find(group.value);
  if (it == groups_.end()) return Status::invalid_argument;
  if (driving_ > 0) {
    log(fmt::format("group {}: remove_group refused from a Ready loop callback", group.value));
    return Status::busy;
  }
  std::unique_ptr<Group> g = std::move(it->second);
  groups_.erase(it);
  membership_changed(group, g->membership, Membership{});
  if (g->driver) g->driver->abandon();
  if (set_) set_->remove(group);
  if (writer_) {
    GroupLogWriter::Submitted sub = writer_->remove_group(group);
    if (sub.ok())
      removing_[group.value] = sub.sequence;
    else
      log(fmt::format("group {}: the log did not take its removal: {}", group.value,
                      to_string(sub.status)));
  }
  // Its flags may still list it in runnable_/staged_groups_/failing_: those
  // lists look groups up by id and skip the missing.
  return Status::ok;
}

std::vector<GroupId> GroupHost::groups() const {
  std::vector<GroupId> out;
  out.reserve(groups_.size());
  for (const auto& [id, g] : groups_) out.push_back(GroupId{id});
  return out;
}

ProposeResult GroupHost::propose(GroupId group, std::string_view command, Done done) {
  if (failed_ || !set_) return {Status::unavailable, {}, {}};
  Group* g = find(group);
  if (!g) return {Status::invalid_argument, {}, {}};
  ProposeResult r = g->driver->propose(command, std::move(done));
  set_->touch(group);
  schedule();
  return r;
}

ProposeResult GroupHost::read(GroupId group, ReadDone done) {
  if (failed_ || !set_) return {Status::unavailable, {}, {}};
  Group* g = find(group);
  if (!g) return {Status::invalid_argument, {}, {}};
  catch_up_clock();
  if (failed_) return {Status::unavailable, {}, {}};
  ProposeResult r = g->driver->read(std::move(done));
  set_->touch(group);
  schedule();
  return r;
}

ProposeResult GroupHost::change_membership(GroupId group, MembershipOp op, NodeId node, Done done) {
  if (failed_ || !set_) return {Status::unavailable, {}, {}};
  Group* g = find(group);
  if (!g) return {Status::invalid_argument, {}, {}};
  ProposeResult r = g->driver->change_membership(op, node, std::move(done));
  set_->touch(group);
  schedule();
  return r;
}

Status GroupHost::transfer_leadership(GroupId group, NodeId to) {
  if (failed_ || !set_) return Status::unavailable;
  if (!find(group)) return Status::invalid_argument;
  Status s = set_->find(group)->transfer_leadership(to);
  set_->touch(group);
  schedule();
  return s;
}

Status GroupHost::campaign(GroupId group) {
  if (failed_ || !set_) return Status::unavailable;
  if (!find(group)) return Status::invalid_argument;
  set_->find(group)->campaign();
  set_->touch(group);
  schedule();
  return Status::ok;
}

Status GroupHost::compact(GroupId group, Slot slot, std::string data) {
  if (failed_ || !set_) return Status::unavailable;
  Group* g = find(group);
  if (!g) return Status::invalid_argument;
  Status s = g->driver->compact(slot, std::move(data));
  set_->touch(group);
  schedule();
  return s;
}

void GroupHost::snapshot_abandoned(GroupId group) {
  if (Group* g = find(group)) g->driver->snapshot_abandoned();
}

std::optional<ReplicaInfo> GroupHost::info(GroupId group) const {
  if (!set_ || !find(group)) return std::nullopt;
  return set_->find(group)->info();
}

bool GroupHost::quiesced(GroupId group) const {
  return set_ && find(group) && set_->find(group)->quiesced();
}

std::size_t GroupHost::leading() const {
  std::size_t n = 0;
  if (!set_) return 0;
  for (const auto& [id, g] : groups_)
    if (!g->failed && set_->find(GroupId{id})->info().role == Role::leader) ++n;
  return n;
}

GroupHostStats GroupHost::stats() const {
  GroupHostStats s;
  if (set_) s.groups = set_->stats();
  s.ticks = ticks_;
  s.ready_runs = ready_runs_;
  s.apply_deferred = work_->apply_deferred;
  s.bad_frames = bad_frames_;
  s.groups_failed = groups_failed_;
  s.balance_rounds = balance_rounds_;
  s.leaders_handed_off = leaders_handed_off_;
  s.loop_stalls = loop_stalls_;
  s.longest_stall_ms = longest_stall_ms_;
  s.host_messages_sent = host_messages_sent_;
  s.host_messages_received = host_messages_received_;
  s.host_messages_dropped = host_messages_dropped_;
  if (writer_) {
    GroupLogWriterStats w = writer_->stats();
    s.log_batches = w.batches;
    s.log_writes = w.writes;
  }
  return s;
}

// GroupSet sends node heartbeats to every node holding a replica of one of
// the groups here: kept in step with each group's membership.
void GroupHost::membership_changed(GroupId, const Membership& before, const Membership& after) {
  bool changed = false;
  auto members = [](const Membership& m) {
    std::vector<NodeId> all = m.voters;
    all.insert(all.end(), m.learners.begin(), m.learners.end());
    return all;
  };
  for (NodeId n : members(before)) {
    if (n == opt_.self || after.is_member(n)) continue;
    if (--member_of_[n.value] == 0) {
      member_of_.erase(n.value);
      changed = true;
    }
  }
  for (NodeId n : members(after)) {
    if (n == opt_.self || before.is_member(n)) continue;
    if (member_of_[n.value]++ == 0) changed = true;
  }
  if (!changed || !set_) return;
  std::vector<NodeId> peers;
  for (const auto& [n, count] : member_of_) peers.push_back(NodeId{n});
  set_->set_peers(std::move(peers));
}

}  // namespace synod
