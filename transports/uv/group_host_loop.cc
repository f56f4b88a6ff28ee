// GroupHost's loop work: frames in, the one tick timer, the Ready loop over
// the groups GroupSet names dirty (and those left over from the last
// iteration), node heartbeats out, and Readys finished once durable.
#include <fmt/format.h>

#include <algorithm>

#include "group_host_group.h"
#include "peer_frame.h"
#include "synod/group_host.h"

namespace synod {

void GroupHost::on_frame(NodeId from, std::span<const std::uint8_t> frame) {
  if (!set_ || failed_) return;
  Message m;
  if (!detail::decode_peer_frame(from, frame, opt_.limits, &m,
                                 {bad_frames_, bad_frame_log_ns_, bad_frames_unlogged_},
                                 [this](std::string_view line) { log(line); }))
    return;
  heard_ns_[from.value] = uv_hrtime();
  if (m.type == MessageType::host_message) return on_host_message(from, m);
  std::uint64_t t0 = uv_hrtime();
  set_->step(from, m);
  work_->step_ns += uv_hrtime() - t0;
  schedule();
}

// Host messages go to the embedder's handler, never to a group: they are a
// protocol above consensus (docs/groups.md, "Host messages").
void GroupHost::on_host_message(NodeId from, const Message& m) {
  if (m.to != opt_.self || !opt_.on_host_message) {
    ++host_messages_dropped_;
    return;
  }
  ++host_messages_received_;
  opt_.on_host_message(from, m.payload);
}

Status GroupHost::send_host_message(NodeId to, std::string payload) {
  if (!started_ || failed_) return Status::unavailable;
  if (!to.valid() || to == opt_.self) return Status::invalid_argument;
  Message m;
  m.type = MessageType::host_message;
  m.from = opt_.self;
  m.to = to;
  m.payload = std::move(payload);
  std::vector<std::uint8_t> frame;
  std::string why;
  if (wire::encode(m, frame, opt_.limits, &why) != Status::ok) {
    ++host_messages_dropped_;
    return Status::invalid_argument;
  }
  Status st = transport_.send(to, frame);
  if (st == Status::ok)
    ++host_messages_sent_;
  else
    ++host_messages_dropped_;
  return st;
}

// GroupSet ticks only the awake groups and judges node liveness: one timer
// for every group, and no per-tick scan of the sleeping ones. A libuv
// repeating timer that fires late fires once, not once per missed period:
// GroupSet::tick(periods) decides who ticks how often (leaders with leases
// for every period, so no lease outlives real time).
void GroupHost::on_tick() {
  if (!set_ || failed_) return;
  ++ticks_;
  std::uint64_t now = uv_hrtime();
  std::uint64_t period = opt_.tick_ms * 1'000'000;
  std::uint64_t elapsed = last_tick_ns_ ? now - last_tick_ns_ : period;
  // The timer firing just after catch_up_clock() ticked: that period is
  // ticked already (a clock may run slow, never fast).
  if (elapsed < period / 2) return;
  last_tick_ns_ = now;
  if (elapsed > period) note_stall(elapsed - period, "the tick timer fired late by");
  set_->tick(std::max<std::uint64_t>(1, elapsed / period));
  schedule();
}

// A read may be answered from a lease. After the process was stopped (or
// the loop blocked) the poll returns, and its callbacks run, before the
// late timer does: tick for the real time that passed first, or a lease
// would be used that ran out while the process stood still.
void GroupHost::catch_up_clock() {
  if (driving_ == 0 && last_tick_ns_ != 0 &&
      uv_hrtime() - last_tick_ns_ >= 2 * opt_.tick_ms * 1'000'000)
    on_tick();
}

void GroupHost::note_stall(std::uint64_t ns, const char* what) {
  if (opt_.stall_ms == 0 || ns <= opt_.stall_ms * 1'000'000) return;
  ++loop_stalls_;
  longest_stall_ms_ = std::max(longest_stall_ms_, ns / 1'000'000);
  detail::LogThrottleState t{stall_log_ns_, stalls_unlogged_};
  std::uint64_t unlogged = 0;
  bool now = detail::throttle_log(t, uv_hrtime(), &unlogged);
  stall_log_ns_ = t.last_ns;
  stalls_unlogged_ = t.unlogged;
  if (now)
    log(fmt::format("loop stall: {} {} ms (stall_ms {}){}", what, ns / 1'000'000, opt_.stall_ms,
                    unlogged ? fmt::format("; {} more since the last line", unlogged) : ""));
}

void GroupHost::schedule() {
  if (scheduled_ || !idle_) return;
  scheduled_ = true;
  uv_idle_start(idle_, [](uv_idle_t* h) {
    auto* self = static_cast<GroupHost*>(h->data);
    uv_idle_stop(h);
    self->scheduled_ = false;
    self->run_ready();
  });
}

// GroupSet holds heartbeats and their acks for the next flush() and hands
// anything else back as it is (group_set.h): those go out from the Ready's
// own message, since handing GroupSet a copy of an accept would allocate its
// whole batch of commands again, once per follower.
void GroupHost::send_now(const Message& m) {
  if (m.type != MessageType::heartbeat && m.type != MessageType::heartbeat_ack)
    return encode_and_send(m);
  set_->send(m, now_);
  send_out();
}

void GroupHost::encode_and_send(const Message& m) {
  work_->sent_bytes +=
      detail::encode_peer_frame(m, opt_.limits, transport_, [this](std::string_view l) { log(l); });
}

void GroupHost::send_out() {
  for (const Message& m : now_) encode_and_send(m);
  now_.clear();
}

void GroupHost::run_ready() {
  if (!set_ || failed_) return;
  std::uint64_t started = uv_hrtime();
  // One apply budget per loop iteration, all groups together.
  work_->applied = work_->sent = work_->sent_bytes = 0;
  set_->take_dirty(dirty_);
  std::vector<GroupId> again;
  again.swap(runnable_);
  for (GroupId id : again) {
    auto it = groups_.find(id.value);
    if (it == groups_.end()) continue;
    it->second->runnable = false;
    dirty_.push_back(id);
  }
  for (GroupId id : dirty_) {
    Group* g = find(id);
    if (!g) continue;
    ++ready_runs_;
    ++driving_;
    bool done = g->driver->run();
    --driving_;
    if (g->failed) continue;
    if (!done && !g->runnable) {
      g->runnable = true;
      runnable_.push_back(id);
    }
    if (g->driver->has_staged() && !g->staged) {
      g->staged = true;
      staged_groups_.push_back(id);
    }
  }
  dirty_.clear();
  // Groups that failed in their Ready loop go now, off their drivers' stacks.
  std::vector<GroupId> failing;
  failing.swap(failing_);
  for (GroupId id : failing) {
    ++groups_failed_;
    remove_group(id);
  }
  set_->flush(now_);
  send_out();
  note_stall(uv_hrtime() - started, "one pass over the dirty groups' Ready loops took");
  // Work left for the next iteration: the idle handle keeps the poll from
  // sleeping, so the loop reads the sockets first and comes back.
  if (!runnable_.empty()) schedule();
}

// The writer made a batch durable: finish the waiting Readys of the groups
// that staged some, then run their Ready loops again (advance() may have
// released more).
void GroupHost::on_durable() {
  if (failed_) return;
  if (Status st = writer_status_.load(); st != Status::ok) {
    std::string error = opt_.log ? opt_.log->error() : std::string{};
    return fail_all(
        fmt::format("log {}{}", to_string(st), error.empty() ? "" : " (" + error + ")"));
  }
  std::uint64_t durable = durable_.load();
  std::erase_if(removing_, [durable](const auto& r) { return r.second <= durable; });
  std::vector<GroupId> waiting;
  waiting.swap(staged_groups_);
  for (GroupId id : waiting) {
    auto it = groups_.find(id.value);
    if (it == groups_.end()) continue;
    Group* g = it->second.get();
    g->staged = false;
    if (g->failed) continue;
    ++driving_;
    g->driver->finish_durable(durable);
    --driving_;
    if (g->failed) continue;
    if (g->driver->has_staged()) {
      g->staged = true;
      staged_groups_.push_back(id);
    }
    if (!g->runnable) {
      g->runnable = true;
      runnable_.push_back(id);
    }
  }
  schedule();
}

// One group's error (a snapshot arrived without a restore hook) stops that
// group only; it is removed once its driver is off the stack.
void GroupHost::fail_group(GroupId group, std::string_view why) {
  auto it = groups_.find(group.value);
  if (it == groups_.end() || it->second->failed) return;
  if (writer_status_.load() != Status::ok || why.starts_with("log "))
    return fail_all(why);  // the shared log failed: every group stops
  log(fmt::format("group {} STOPPED: {}; it no longer votes or serves here", group.value, why));
  it->second->failed = true;
  failing_.push_back(group);
}

void GroupHost::fail_all(std::string_view why) {
  if (failed_) return;
  failed_ = true;
  log(fmt::format("STOPPED: {}; no group here votes or serves any more", why));
  if (writer_) writer_->stop();
  close_handles();
  ++driving_;  // a callback removing a group would invalidate this walk
  for (auto& [id, g] : groups_)
    if (g->driver) g->driver->abandon();
  --driving_;
}

}  // namespace synod
