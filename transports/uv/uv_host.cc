// UvHost: one replica on a libuv loop. The Ready loop itself is
// ReplicaDriver's (replica_driver.h), shared with GroupHost; this file wires
// it to the tick timer, the transport and the storage.
#include "synod/uv_host.h"

#include <fmt/format.h>

#include "loop_wake.h"
#include "peer_frame.h"
#include "replica_driver.h"
#include "synod/seed.h"

namespace synod {

UvHost::UvHost(uv_loop_t* loop, Storage& storage, Transport& transport, UvHostOptions options)
    : UvHost(loop, HostStorage::on_loop(storage), transport, std::move(options)) {}

UvHost::UvHost(uv_loop_t* loop, HostStorage storage, Transport& transport, UvHostOptions options)
    : loop_(loop),
      storage_(storage.storage()),
      transport_(transport),
      opt_(std::move(options)),
      work_(std::make_unique<IterationWork>()),
      log_(storage.log()) {
  work_->apply_per_iteration = opt_.apply_per_iteration;
}

UvHost::~UvHost() {
  if (writer_) writer_->stop();
  // The transport outlives the host and may go on receiving: its handler
  // must not call into a destroyed host (a no-op: a Transport may call its
  // handler unchecked).
  transport_.set_handler([](NodeId, std::span<const std::uint8_t>) {});
}

void UvHost::log(std::string_view line) const {
  if (opt_.log) return opt_.log(line);
  fmt::print(stderr, "synod host [{}]: {}\n", opt_.config.id.value, line);
}

Slot UvHost::applied() const { return driver_ ? driver_->applied() : opt_.config.applied; }

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
  ReplicaHooks hooks{
      opt_.apply,       opt_.restore,        opt_.snapshot_every_slots, opt_.snapshot_every_bytes,
      opt_.snapshot,    opt_.snapshot_begin, opt_.on_membership,        opt_.apply_before_durable,
      opt_.before_apply};
  ReplicaPersistence persistence;
  if (log_) {
    persistence.submit = [this](const Ready& rd, std::uint64_t* sequence) {
      const HardState* hs = rd.hard_state ? &*rd.hard_state : nullptr;
      // A commit-only hard state is written with the next sync, not synced
      // on its own (LogWriter::submit_unsynced).
      LogWriter::Submitted sub =
          rd.must_sync || rd.snapshot
              ? writer_->submit(rd.snapshot ? &*rd.snapshot : nullptr, rd.keep_from, hs, rd.entries)
              : writer_->submit_unsynced(hs, rd.entries);
      *sequence = sub.sequence;
      return sub.status;
    };
    persistence.followers_sync_here = opt_.follower_syncs_on_loop;
    persistence.sole_voter_syncs_here = opt_.sole_voter_syncs_on_loop;
    if (opt_.follower_syncs_on_loop || opt_.sole_voter_syncs_on_loop)
      persistence.sync_here = [this](const Ready& rd, bool* synced) {
        return writer_->sync_here(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries, synced);
      };
  } else {
    persistence.persist = [this](const Ready& rd) { return persist(rd); };
  }
  driver_ = std::make_unique<ReplicaDriver>(
      *replica_, opt_.config.applied, std::move(hooks), std::move(persistence), *work_,
      [this](const Message& m) { send_one(m); }, [this](std::string_view w) { fail(w); },
      [this](std::string_view line) { log(line); });
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
  driver_->report_membership(replica_->info().membership);
  idle_ = new uv_idle_t;
  uv_idle_init(loop_, idle_);
  idle_->data = this;
  if (log_) {
    // Not a uv_async_t: its loop side spins against the writer thread
    // (loop_wake.h).
    durable_wake_ = new detail::LoopWake;
    if (!durable_wake_->start(loop_, [this] { on_durable(); })) {
      durable_wake_->close();
      durable_wake_ = nullptr;
      // No writer without it: the host stops here (handles closed, nothing
      // proposed or persisted), not half started.
      fail("no eventfd for the log writer's wake-ups");
      if (why) *why = "no eventfd for the log writer's wake-ups";
      return Status::unavailable;
    }
    writer_ = std::make_unique<LogWriter>(*log_, [this](std::uint64_t durable, Status st) {
      // Writer thread: publish, then wake the loop.
      if (st != Status::ok) writer_status_.store(st);
      durable_.store(durable);
      durable_wake_->wake();
    });
  }
  schedule();
  return Status::ok;
}

// On the loop: the writer reported a sync (or its failure).
void UvHost::on_durable() {
  if (Status st = writer_status_.load(); st != Status::ok)
    return fail(fmt::format("log {}", to_string(st)));
  if (!driver_) return;
  std::uint64_t t0 = uv_hrtime();
  bool done = driver_->finish_durable(durable_.load());
  if (work_) work_->apply_ns += uv_hrtime() - t0;
  observe_role();
  if (!done) ++stats_.apply_deferred;
  schedule();
}

void UvHost::close_handles() {
  // The writer is stopped before this: nothing wakes the loop any more.
  if (durable_wake_) durable_wake_->close();
  durable_wake_ = nullptr;
  for (auto* h :
       {reinterpret_cast<uv_handle_t*>(tick_timer_), reinterpret_cast<uv_handle_t*>(idle_),
        reinterpret_cast<uv_handle_t*>(prepare_)}) {
    if (!h || uv_is_closing(h)) continue;
    uv_close(h, [](uv_handle_t* handle) {
      if (handle->type == UV_TIMER)
        delete reinterpret_cast<uv_timer_t*>(handle);
      else if (handle->type == UV_IDLE)
        delete reinterpret_cast<uv_idle_t*>(handle);
      else
        delete reinterpret_cast<uv_prepare_t*>(handle);
    });
  }
  tick_timer_ = nullptr;
  idle_ = nullptr;
  prepare_ = nullptr;
}

void UvHost::stop() {
  if (writer_) writer_->stop();  // flushes; no callback after this returns
  close_handles();
  if (driver_) driver_->abandon();
  driver_.reset();
  replica_.reset();
}

ReplicaInfo UvHost::info() const { return replica_ && !failed_ ? replica_->info() : ReplicaInfo{}; }

ProposeResult UvHost::propose(std::string_view command, Done done) {
  if (!driver_ || failed_) return {Status::unavailable, {}, {}};
  ProposeResult r = driver_->propose(command, std::move(done));
  if (r.ok()) schedule();
  return r;
}

ProposeResult UvHost::read(ReadDone done) {
  if (!driver_ || failed_) return {Status::unavailable, {}, {}};
  // A read may be answered from a lease. After the process was stopped (or
  // the loop blocked) the poll returns, and its callbacks run, before the
  // late timer does: tick for the real time that passed first, or a lease
  // would be used that ran out while the process stood still.
  if (tick_timer_ && uv_hrtime() - last_tick_ns_ >= 2 * opt_.tick_ms * 1'000'000) {
    on_tick_timer();
    if (!driver_ || failed_) return {Status::unavailable, {}, {}};
  }
  ProposeResult r = driver_->read(std::move(done));
  if (r.ok()) schedule();
  return r;
}

ProposeResult UvHost::change_membership(MembershipOp op, NodeId node, Done done) {
  if (!driver_ || failed_) return {Status::unavailable, {}, {}};
  ProposeResult r = driver_->change_membership(op, node, std::move(done));
  if (r.ok()) schedule();
  return r;
}

Status UvHost::transfer_leadership(NodeId to) {
  if (!replica_ || failed_) return Status::unavailable;
  Status s = replica_->transfer_leadership(to);
  schedule();  // the hand-over message may be ready at once
  return s;
}

Status UvHost::compact(Slot slot, std::string data) {
  if (!driver_) return Status::unavailable;
  Status s = driver_->compact(slot, std::move(data));
  if (s == Status::ok) schedule();
  return s;
}

void UvHost::snapshot_abandoned() {
  if (driver_) driver_->snapshot_abandoned();
}

void UvHost::on_frame(NodeId from, std::span<const std::uint8_t> frame) {
  if (!replica_ || failed_) return;
  Message m;
  if (!detail::decode_peer_frame(from, frame, opt_.limits, &m,
                                 {stats_.bad_frames, bad_frame_log_ns_, bad_frames_unlogged_},
                                 [this](std::string_view line) { log(line); }))
    return;
  std::uint64_t t0 = uv_hrtime();
  replica_->step(m);
  work_->step_ns += uv_hrtime() - t0;
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

// A storage failure stops the replica; the driver that reported it is on
// the stack, so it is destroyed only when the host is (stop() would).
void UvHost::fail(std::string_view why) {
  if (failed_) return;
  failed_ = true;
  log(fmt::format("STOPPED: {}; this replica no longer votes or serves", why));
  if (writer_) writer_->stop();
  close_handles();
  if (driver_) driver_->abandon();
}

Status UvHost::persist(const Ready& rd) {
  Status s = Status::ok;
  if (rd.snapshot) s = storage_.save_snapshot(*rd.snapshot, rd.keep_from);
  if (s == Status::ok) s = storage_.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
  if (s == Status::ok && rd.must_sync) s = storage_.sync();
  return s;
}

void UvHost::run_ready() {
  if (!driver_ || failed_) return;
  std::uint64_t t0 = uv_hrtime();
  bool done = driver_->run();
  work_->apply_ns += uv_hrtime() - t0;
  stats_.apply_deferred = work_->apply_deferred;
  stats_.synced_on_loop = work_->synced_on_loop;
  observe_role();
  // Work left for the next iteration: the idle handle keeps the poll from
  // sleeping, so the loop reads the sockets first and comes back.
  if (!done) schedule();
}

void UvHost::send_one(const Message& m) {
  work_->sent_bytes +=
      detail::encode_peer_frame(m, opt_.limits, transport_, [this](std::string_view l) { log(l); });
}

}  // namespace synod
