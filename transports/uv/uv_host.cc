#include "synod/uv_host.h"

#include <fmt/format.h>

#include <map>

namespace synod {

UvHost::UvHost(uv_loop_t* loop, Storage& storage, Transport& transport, UvHostOptions options)
    : loop_(loop), storage_(storage), transport_(transport), opt_(std::move(options)) {}

UvHost::~UvHost() = default;

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
  replica_.emplace(opt_.config, storage_);
  transport_.set_handler([this](NodeId from, std::span<const std::uint8_t> f) { on_frame(from, f); });
  if (Status s = transport_.start(); s != Status::ok) {
    if (why) *why = "transport failed to start";
    return s;
  }
  tick_timer_ = new uv_timer_t;
  uv_timer_init(loop_, tick_timer_);
  tick_timer_->data = this;
  uv_timer_start(tick_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<UvHost*>(t->data);
    if (!self->replica_ || self->failed_) return;
    self->replica_->tick();
    self->schedule();
  }, opt_.tick_ms, opt_.tick_ms);
  idle_ = new uv_idle_t;
  uv_idle_init(loop_, idle_);
  idle_->data = this;
  schedule();
  return Status::ok;
}

void UvHost::stop() {
  for (auto* h : {reinterpret_cast<uv_handle_t*>(tick_timer_), reinterpret_cast<uv_handle_t*>(idle_)}) {
    if (!h) continue;
    uv_close(h, [](uv_handle_t* handle) {
      if (handle->type == UV_TIMER) delete reinterpret_cast<uv_timer_t*>(handle);
      else delete reinterpret_cast<uv_idle_t*>(handle);
    });
  }
  tick_timer_ = nullptr;
  idle_ = nullptr;
  // The process keeps running but this replica does not: for its callers the
  // outcome is unknown (a proposal may still be chosen by the others).
  auto waiting = std::move(waiting_);
  for (auto& [ticket, done] : waiting) done({Ticket{ticket}, Outcome::unknown, {}, 0, {}}, {});
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

void UvHost::on_frame(NodeId from, std::span<const std::uint8_t> frame) {
  if (!replica_ || failed_) return;
  Message m;
  wire::DecodeResult r = wire::decode_one(frame, m, opt_.limits);
  if (r.status != Status::ok || r.consumed == 0) {
    log(fmt::format("dropped a bad frame from node {}: {}", from.value, r.error));
    return;
  }
  if (m.from != from) {
    log(fmt::format("dropped a frame from node {} claiming to be node {}", from.value, m.from.value));
    return;
  }
  replica_->step(m);
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
  Status s = storage_.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
  if (s == Status::ok && rd.must_sync) s = storage_.sync();
  if (s == Status::ok) return true;
  fail(fmt::format("storage {}", to_string(s)));
  return false;
}

void UvHost::run_ready() {
  while (replica_ && !failed_ && replica_->has_ready()) {
    Ready rd = replica_->ready();
    if (!persist(rd)) return;
    for (const Message& m : rd.messages) {
      encode_buf_.clear();
      std::string why;
      if (wire::encode(m, encode_buf_, opt_.limits, &why) != Status::ok) {
        log("cannot encode a message: " + why);
        continue;
      }
      transport_.send(m.to, encode_buf_);  // a loss is tolerated
    }
    // Results of this Ready's commands, for the outcomes that name them.
    std::map<std::pair<std::uint64_t, std::uint32_t>, std::string> results;
    for (const Entry& e : rd.committed) {
      std::uint32_t i = 0;
      for (const std::string& c : e.value.commands()) {
        std::string out = opt_.apply ? opt_.apply(e.slot, c) : std::string{};
        if (!waiting_.empty()) results[{e.slot.value, i}] = std::move(out);
        ++i;
      }
    }
    for (const ProposalOutcome& o : rd.outcomes) {
      auto it = waiting_.find(o.ticket.value);
      if (it == waiting_.end()) continue;
      Done done = std::move(it->second);
      waiting_.erase(it);
      auto r = results.find({o.slot.value, o.index});
      done(o, r == results.end() ? std::string{} : r->second);
    }
    if (replica_) replica_->advance(rd);
  }
}

}  // namespace synod
