#include "synod/uv_host.h"

#include <fmt/format.h>

#include <map>

#include "synod/seed.h"

namespace synod {

UvHost::UvHost(uv_loop_t* loop, Storage& storage, Transport& transport, UvHostOptions options)
    : loop_(loop), storage_(storage), transport_(transport), opt_(std::move(options)) {}

UvHost::UvHost(uv_loop_t* loop, LogStorage& log, Transport& transport, UvHostOptions options)
    : UvHost(loop, static_cast<Storage&>(log), transport, std::move(options)) {
  log_ = &log;
}

UvHost::~UvHost() {
  if (writer_) writer_->stop();
}

void UvHost::log(std::string_view line) const {
  if (opt_.log) return opt_.log(line);
  fmt::print(stderr, "synod host [{}]: {}\n", opt_.config.id.value, line);
}

Status UvHost::start(std::string* why) {
  std::string reason;
  if (Status s = opt_.config.validate(&reason); s != Status::ok) {
    log("invalid configuration: " + reason);
    if (why) *why = reason;
    return s;
  }
  // Rejoin nonces and follower read ids must not repeat across restarts
  // (Config::seed): a seed left at its default is drawn (synod/seed.h).
  if (opt_.config.seed == Config{}.seed) opt_.config.seed = startup_seed(opt_.config.id);
  replica_.emplace(opt_.config, storage_);
  applied_ = opt_.config.applied;
  applied_at_snapshot_ = replica_->info().snapshot;
  transport_.set_handler(
      [this](NodeId from, std::span<const std::uint8_t> f) { on_frame(from, f); });
  if (Status s = transport_.start(); s != Status::ok) {
    if (why) *why = "transport failed to start";
    return s;
  }
  tick_timer_ = new uv_timer_t;
  uv_timer_init(loop_, tick_timer_);
  tick_timer_->data = this;
  last_tick_ns_ = uv_hrtime();
  uv_timer_start(
      tick_timer_, [](uv_timer_t* t) { static_cast<UvHost*>(t->data)->on_tick_timer(); },
      opt_.tick_ms, opt_.tick_ms);
  // Loop health: the busy time of each iteration is its wall time less the
  // time the poll slept (libuv counts that once asked to).
  uv_loop_configure(loop_, UV_METRICS_IDLE_TIME);
  prepare_ = new uv_prepare_t;
  uv_prepare_init(loop_, prepare_);
  prepare_->data = this;
  last_prepare_ns_ = uv_hrtime();
  last_idle_ns_ = uv_metrics_idle_time(loop_);
  uv_prepare_start(prepare_,
                   [](uv_prepare_t* p) { static_cast<UvHost*>(p->data)->on_iteration_end(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));  // watching keeps nothing alive
  {
    ReplicaInfo i = replica_->info();
    seen_role_ = i.role;
    seen_ballot_ = i.ballot;
    seen_leader_ = i.leader;
  }
  report_membership(replica_->info().membership);
  idle_ = new uv_idle_t;
  uv_idle_init(loop_, idle_);
  idle_->data = this;
  if (log_) {
    durable_async_ = new uv_async_t;
    uv_async_init(loop_, durable_async_, [](uv_async_t* a) {
      auto* self = static_cast<UvHost*>(a->data);
      if (Status st = self->writer_status_.load(); st != Status::ok)
        return self->fail(fmt::format("log {}", to_string(st)));
      std::uint64_t t0 = uv_hrtime();
      self->finish_durable();
      self->apply_ns_ += uv_hrtime() - t0;
      self->observe_role();
      self->schedule();
    });
    durable_async_->data = this;
    writer_ = std::make_unique<LogWriter>(*log_, [this](std::uint64_t durable, Status st) {
      // Writer thread: publish, then wake the loop.
      if (st != Status::ok) writer_status_.store(st);
      durable_.store(durable);
      uv_async_send(durable_async_);
    });
  }
  schedule();
  return Status::ok;
}

void UvHost::stop() {
  if (writer_) writer_->stop();  // flushes; no callback after this returns
  for (auto* h :
       {reinterpret_cast<uv_handle_t*>(tick_timer_), reinterpret_cast<uv_handle_t*>(idle_),
        reinterpret_cast<uv_handle_t*>(durable_async_), reinterpret_cast<uv_handle_t*>(prepare_)}) {
    if (!h || uv_is_closing(h)) continue;
    uv_close(h, [](uv_handle_t* handle) {
      if (handle->type == UV_TIMER)
        delete reinterpret_cast<uv_timer_t*>(handle);
      else if (handle->type == UV_IDLE)
        delete reinterpret_cast<uv_idle_t*>(handle);
      else if (handle->type == UV_PREPARE)
        delete reinterpret_cast<uv_prepare_t*>(handle);
      else
        delete reinterpret_cast<uv_async_t*>(handle);
    });
  }
  tick_timer_ = nullptr;
  idle_ = nullptr;
  durable_async_ = nullptr;
  prepare_ = nullptr;
  staged_.clear();
  // The process keeps running but this replica does not: for its callers the
  // outcome is unknown (a proposal may still be chosen by the others).
  auto waiting = std::move(waiting_);
  for (auto& [ticket, done] : waiting) done({Ticket{ticket}, Outcome::unknown, {}, 0, {}}, {});
  auto reads = std::move(reads_);
  for (auto& [ticket, done] : reads) done(Status::unavailable, {});
  auto ready_reads = std::move(ready_reads_);
  for (auto& [index, done] : ready_reads) done(Status::unavailable, {});
  replica_.reset();
}

ReplicaInfo UvHost::info() const { return replica_ ? replica_->info() : ReplicaInfo{}; }

ProposeResult UvHost::propose(std::string command, Done done) {
  if (!replica_ || failed_) return {Status::unavailable, {}, {}};
  ProposeResult r = replica_->propose(std::move(command));
  if (r.ok()) {
    waiting_[r.ticket.value] = std::move(done);
    schedule();
  }
  return r;
}

ProposeResult UvHost::read(ReadDone done) {
  if (!replica_ || failed_) return {Status::unavailable, {}, {}};
  ProposeResult r = replica_->read();
  if (r.ok()) {
    reads_[r.ticket.value] = std::move(done);
    schedule();
  }
  return r;
}

ProposeResult UvHost::change_membership(MembershipOp op, NodeId node, Done done) {
  if (!replica_ || failed_) return {Status::unavailable, {}, {}};
  ProposeResult r = replica_->change_membership(op, node);
  if (r.ok()) {
    waiting_[r.ticket.value] = std::move(done);
    schedule();
  }
  return r;
}

Status UvHost::transfer_leadership(NodeId to) {
  if (!replica_ || failed_) return Status::unavailable;
  Status s = replica_->transfer_leadership(to);
  schedule();  // the hand-over message may be ready at once
  return s;
}

void UvHost::report_membership(const Membership& m) {
  if (membership_ && *membership_ == m) return;
  membership_ = m;
  if (opt_.on_membership) opt_.on_membership(m);
}

void UvHost::on_frame(NodeId from, std::span<const std::uint8_t> frame) {
  if (!replica_ || failed_) return;
  Message m;
  wire::DecodeResult r = wire::decode_one(frame, m, opt_.limits);
  if (r.status != Status::ok || r.consumed == 0) {
    log(fmt::format("dropped a bad frame from node {}: {}", from.value, r.error));
    return;
  }
  if (m.from != from) {
    log(fmt::format("dropped a frame from node {} claiming to be node {}", from.value,
                    m.from.value));
    return;
  }
  std::uint64_t t0 = uv_hrtime();
  replica_->step(m);
  step_ns_ += uv_hrtime() - t0;
  schedule();
}

void UvHost::schedule() {
  if (scheduled_ || !idle_) return;
  scheduled_ = true;
  uv_idle_start(idle_, [](uv_idle_t* h) {
    auto* self = static_cast<UvHost*>(h->data);
    uv_idle_stop(h);
    self->scheduled_ = false;
    self->run_ready();
  });
}

void UvHost::fail(std::string_view why) {
  failed_ = true;
  log(fmt::format("STOPPED: {}; this replica no longer votes or serves", why));
  stop();
}

bool UvHost::persist(const Ready& rd) {
  Status s = Status::ok;
  if (rd.snapshot) s = storage_.save_snapshot(*rd.snapshot, rd.keep_from);
  if (s == Status::ok) s = storage_.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
  if (s == Status::ok && rd.must_sync) s = storage_.sync();
  if (s == Status::ok) return true;
  fail(fmt::format("storage {}", to_string(s)));
  return false;
}

void UvHost::run_ready() {
  std::uint64_t t0 = uv_hrtime();
  run_ready_unwatched();
  apply_ns_ += uv_hrtime() - t0;
  observe_role();
}

void UvHost::run_ready_unwatched() {
  // A Ready is persisted, sent and applied whole; once this iteration's
  // apply budget is spent the rest waits for the next iteration (the idle
  // handle keeps the poll from sleeping), after the loop read the sockets.
  while (replica_ && !failed_ && replica_->has_ready()) {
    if (apply_budget_left() == 0) return defer_apply();
    Ready rd = replica_->ready();
    if (!writer_) {
      if (!persist(rd)) return;
      finish(rd, false);
      continue;
    }
    // Accepts go out now, while the writer makes them durable here too.
    for (const Message& m : rd.messages)
      if (may_send_before_persist(m)) send_one(m);
    // Group commit: stage now, finish when the writer says it is durable. A
    // Ready with nothing to write still waits for the ones before it.
    if (rd.snapshot || rd.hard_state || !rd.entries.empty()) {
      LogWriter::Submitted sub =
          writer_->submit(rd.snapshot ? &*rd.snapshot : nullptr, rd.keep_from,
                          rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
      if (!sub.ok()) return fail(fmt::format("log {}", to_string(sub.status)));
      last_sequence_ = sub.sequence;
    }
    staged_.push_back(Staged{std::move(rd), last_sequence_});
  }
  finish_durable();
}

void UvHost::finish_durable() {
  std::uint64_t durable = durable_.load();
  while (replica_ && !failed_ && !staged_.empty() && staged_.front().sequence <= durable) {
    if (apply_budget_left() == 0) return defer_apply();
    Staged s = std::move(staged_.front());
    staged_.pop_front();
    finish(s.rd, true);
  }
}

Status UvHost::compact(Slot slot, std::string data) {
  if (!replica_) return Status::unavailable;
  Status s = replica_->compact(slot, std::move(data));
  if (s == Status::ok) {
    applied_at_snapshot_ = std::max(applied_at_snapshot_, slot);
    bytes_since_snapshot_ = 0;
    schedule();
  }
  snapshot_pending_ = false;  // handed over, or refused: the trigger may ask again
  return s;
}

void UvHost::defer_apply() {
  ++stats_.apply_deferred;
  schedule();
}

void UvHost::snapshot_abandoned() { snapshot_pending_ = false; }

// Automatic compaction, right after applying: the state machine is at
// applied_ now, so its image is of that slot.
void UvHost::maybe_snapshot() {
  if ((!opt_.snapshot && !opt_.snapshot_begin) || snapshot_pending_ ||
      applied_ <= applied_at_snapshot_)
    return;
  bool by_slots = opt_.snapshot_every_slots > 0 &&
                  applied_.value >= applied_at_snapshot_.value + opt_.snapshot_every_slots;
  bool by_bytes =
      opt_.snapshot_every_bytes > 0 && bytes_since_snapshot_ >= opt_.snapshot_every_bytes;
  if (!by_slots && !by_bytes) return;
  std::uint64_t t0 = uv_hrtime();
  if (opt_.snapshot_begin) {
    snapshot_pending_ = true;
    opt_.snapshot_begin(applied_);
    snapshot_ns_ += uv_hrtime() - t0;
    return;
  }
  std::string image = opt_.snapshot();
  snapshot_ns_ += uv_hrtime() - t0;
  Status s = compact(applied_, std::move(image));
  if (s != Status::ok)
    log(fmt::format("snapshot at slot {} refused: {}", applied_.value, to_string(s)));
}

void UvHost::send_one(const Message& m) {
  std::uint64_t t0 = uv_hrtime();
  send_one_unwatched(m);
  send_ns_ += uv_hrtime() - t0;
  ++sent_this_iteration_;
  sent_bytes_this_iteration_ += encode_buf_.size();
}

void UvHost::send_one_unwatched(const Message& m) {
  encode_buf_.clear();
  std::string why;
  if (wire::encode(m, encode_buf_, opt_.limits, &why) != Status::ok) {
    log("cannot encode a message: " + why);
    return;
  }
  transport_.send(m.to, encode_buf_);  // a loss is tolerated
}

void UvHost::answer(const ProposalOutcome& o, const std::string& result) {
  auto it = waiting_.find(o.ticket.value);
  if (it == waiting_.end()) return;
  Done done = std::move(it->second);
  waiting_.erase(it);
  done(o, result);
}

// Committed outcomes come in the order rd.committed applies (slot, then
// position in the batch): each proposer is answered as its command applies,
// with the apply result and no per-command bookkeeping. A configuration is
// the replica's, not a command: it is not applied, and its proposer (a
// membership change) is answered with an empty result.
void UvHost::apply_committed(const Ready& rd, std::vector<bool>* answered) {
  std::size_t next = 0;
  // The next committed outcome at or after `slot`; earlier ones (slots of
  // an earlier Ready) are answered after applying.
  auto outcome_at = [&](Slot slot, std::uint32_t index) -> const ProposalOutcome* {
    while (next < rd.outcomes.size() &&
           (rd.outcomes[next].outcome != Outcome::committed || rd.outcomes[next].slot < slot))
      ++next;
    if (next < rd.outcomes.size() && rd.outcomes[next].slot == slot &&
        rd.outcomes[next].index == index) {
      (*answered)[next] = true;
      return &rd.outcomes[next++];
    }
    return nullptr;
  };
  for (const Entry& e : rd.committed) {
    if (e.value.kind() != ValueKind::commands) {
      if (const ProposalOutcome* o = outcome_at(e.slot, 0)) answer(*o, {});
      continue;
    }
    std::uint32_t i = 0;
    for (const std::string& c : e.value.commands()) {
      std::string out = opt_.apply ? opt_.apply(e.slot, c) : std::string{};
      bytes_since_snapshot_ += c.size();
      ++applied_this_iteration_;
      if (const ProposalOutcome* o = outcome_at(e.slot, i)) answer(*o, out);
      ++i;
    }
  }
}

// Steps 2 to 4 of a durable Ready: send (what was not sent early), apply,
// answer proposers, advance.
void UvHost::finish(const Ready& rd, bool early_sent) {
  for (const Message& m : rd.messages)
    if (!early_sent || !may_send_before_persist(m)) send_one(m);
  if (rd.restore) {
    if (opt_.restore) {
      opt_.restore(*rd.restore);
    } else {
      return fail("a snapshot arrived but UvHostOptions::restore is not set");
    }
    applied_ = rd.restore->meta.slot;
    applied_at_snapshot_ = applied_;
    bytes_since_snapshot_ = 0;
  }
  std::vector<bool> answered(rd.outcomes.size(), false);
  apply_committed(rd, &answered);
  if (!rd.committed.empty()) applied_ = rd.committed.back().slot;
  maybe_snapshot();
  if (rd.membership) report_membership(*rd.membership);
  for (std::size_t k = 0; k < rd.outcomes.size(); ++k)
    if (!answered[k]) answer(rd.outcomes[k], {});
  for (const ReadState& r : rd.reads) {
    auto it = reads_.find(r.ticket.value);
    if (it == reads_.end()) continue;
    ReadDone done = std::move(it->second);
    reads_.erase(it);
    if (!r.ok)
      done(Status::not_leader, r.leader_hint);
    else
      ready_reads_.emplace(r.index.value, std::move(done));
  }
  // Confirmed reads whose index is applied are served now.
  while (!ready_reads_.empty() && ready_reads_.begin()->first <= applied_.value) {
    ReadDone done = std::move(ready_reads_.begin()->second);
    ready_reads_.erase(ready_reads_.begin());
    done(Status::ok, {});
  }
  if (replica_) replica_->advance(rd);
}

}  // namespace synod
