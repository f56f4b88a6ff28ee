// The sharded node's side of cross-shard transactions (docs/kv.md,
// "Transactions across shards"): the commit protocol's host (ShardTxnHost:
// leadership, proposals, host messages, a later loop turn), EXEC and
// multi-key commands whose keys span shards, and the lock wait.
#include <fmt/format.h>

#include "kv_command_codec.h"
#include "shard_node.h"
#include "txn_plan.h"

namespace synod::kv {
namespace {

// The protocol's clock: CoordinatorOptions and ParticipantOptions count in
// these (vote timeout 50 ticks = 1 s, resend every 100 ms, inquiry after
// 400 ms), longer than a failover of a participant's leader is not needed:
// the coordinator aborts and the client retries.
constexpr std::uint64_t kTxnTickMs = 20;
// How long a single-key command waits for a locked key's transaction to
// be decided before it answers -TRYAGAIN: a vote timeout and a failover.
constexpr std::uint64_t kLockWaitMs = 2000;

void close_timer(uv_timer_t* t) {
  if (t == nullptr || uv_is_closing(reinterpret_cast<uv_handle_t*>(t))) return;
  uv_close(reinterpret_cast<uv_handle_t*>(t),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

}  // namespace

std::string ShardNode::apply(std::size_t shard, std::string_view command) {
  KvStore& store = *stores_[shard];
  auto s = static_cast<txn::ShardId>(shard);
  if (is_txn_entry(command)) {
    // Counted as a log command, so the keys a commit writes get a new
    // version and a WATCH taken before it sees them change.
    store.count_log_command();
    return to_resp(txns_->apply(s, command));
  }
  if (txns_->any_locked(s)) {
    // The leader waits before proposing, but a prepare may have been
    // ordered first: refused alike on every replica (the locks are
    // replicated), nothing applied.
    if (std::optional<Request> r = decode(command)) {
      if (std::optional<std::string> key = locked_key(shard, *r)) {
        ++stats_.locked_refused;
        return to_resp(txn::Participant::locked_reply(*key));
      }
    }
  }
  return to_resp(store.apply(command));
}

void ShardNode::start_txns() {
  std::vector<KvStore*> stores;
  for (auto& s : stores_) stores.push_back(s.get());
  ShardTxnsOptions o;
  o.shards = opt_.shards;
  ShardTxnHost& host = *this;
  txns_ = std::make_unique<ShardTxns>(host, std::move(stores), o);
  txn_tick_ = new uv_timer_t;
  uv_timer_init(loop_, txn_tick_);
  txn_tick_->data = this;
  uv_timer_start(
      txn_tick_,
      [](uv_timer_t* t) {
        auto* self = static_cast<ShardNode*>(t->data);
        if (self->stopped_ || self->host_->failed()) return;
        self->txns_->tick();
        self->retry_waiters(true);
      },
      kTxnTickMs, kTxnTickMs);
  txn_wake_ = new uv_timer_t;
  uv_timer_init(loop_, txn_wake_);
  txn_wake_->data = this;
}

void ShardNode::stop_txns() {
  close_timer(txn_tick_);
  close_timer(txn_wake_);
  txn_tick_ = txn_wake_ = nullptr;
  deferred_.clear();
  std::deque<Waiter> waiters;
  waiters.swap(waiters_);
  for (Waiter& w : waiters) w.reply("-TRYAGAIN replica stopping\r\n");
}

void ShardNode::wake() {
  if (txn_wake_ == nullptr || uv_is_active(reinterpret_cast<uv_handle_t*>(txn_wake_))) return;
  uv_timer_start(
      txn_wake_,
      [](uv_timer_t* t) {
        auto* self = static_cast<ShardNode*>(t->data);
        if (self->stopped_) return;
        self->run_deferred();
        self->txns_->flush();
        self->retry_waiters(false);
      },
      0, 0);
}

void ShardNode::run_deferred() {
  std::vector<std::function<void()>> now;
  now.swap(deferred_);
  for (auto& fn : now) fn();
}

std::optional<Ballot> ShardNode::leading(txn::ShardId shard) const {
  if (stopped_ || host_->failed()) return std::nullopt;
  std::optional<ReplicaInfo> i = host_->info(group_of(shard));
  if (!i || i->role != Role::leader) return std::nullopt;
  return i->ballot;
}

NodeId ShardNode::leader_of(txn::ShardId shard) const {
  std::optional<ReplicaInfo> i = host_->info(group_of(shard));
  return i ? i->leader : NodeId{};
}

void ShardNode::propose(txn::ShardId shard, std::string entry, std::function<void(bool)> done) {
  // The outcome reaches the machines on a later turn: a Done runs inside
  // the group's Ready loop, and the machines may propose again.
  auto later = [this, done](bool chosen) {
    deferred_.push_back([done, chosen] { done(chosen); });
    wake();
  };
  ProposeResult r = host_->propose(group_of(shard), std::move(entry),
                                   [later](const ProposalOutcome& o, const std::string&) {
                                     later(o.outcome == Outcome::committed);
                                   });
  if (!r.ok()) later(false);
}

void ShardNode::send(NodeId to, std::string payload) {
  // Best effort: a refusal (peer unknown, not started) is a lost message,
  // and the protocol resends.
  (void)host_->send_host_message(to, std::move(payload));
}

void ShardNode::handle_cross_shard(const Request& request, const ShardRoute& route,
                                   const RespServer::Reply& reply) {
  std::string why;
  std::optional<PlannedTxn> plan = plan_request(request, map_, &why);
  if (!plan) {
    ++stats_.crossslot;
    return reply(
        fmt::format("-CROSSSLOT Keys in request don't hash to the same slot (synod-kv: {} is not "
                    "supported; docs/kv.md)\r\n",
                    why));
  }
  auto planned = std::make_shared<PlannedTxn>(std::move(*plan));
  std::map<txn::ShardId, txn::ShardPart> parts = planned->parts;
  bool begun = txns_->start(static_cast<txn::ShardId>(route.shard), std::move(parts),
                            [planned, reply](const txn::ClientOutcome& outcome) {
                              reply(to_resp(planned_reply(*planned, outcome)));
                            });
  // Only when this term has used up its transaction ids (handle() checked
  // the leadership just before): a new term starts the count again.
  if (!begun)
    reply(fmt::format("-TRYAGAIN shard {} cannot begin a transaction in this term; retry\r\n",
                      route.shard + 1));
}

std::optional<std::string> ShardNode::locked_key(std::size_t shard, const Request& request) const {
  std::vector<std::string_view> keys;
  if (!keys_of(request, &keys)) return std::nullopt;
  const txn::Participant& p = txns_->participant(static_cast<txn::ShardId>(shard));
  for (std::string_view k : keys)
    if (p.locked(k)) return std::string(k);
  return std::nullopt;
}

void ShardNode::wait_for_locks(Request request, RespServer::Reply reply, std::string key) {
  ++stats_.lock_waits;
  waiters_.push_back(
      Waiter{std::move(request), std::move(reply), std::move(key), uv_now(loop_) + kLockWaitMs});
}

void ShardNode::retry_waiters(bool expire) {
  if (waiters_.empty()) return;
  std::deque<Waiter> waiters;
  waiters.swap(waiters_);
  const std::uint64_t now = uv_now(loop_);
  for (Waiter& w : waiters) {
    auto shard = static_cast<txn::ShardId>(map_.shard_of_key(w.key));
    if (!txns_->locked(shard, w.key)) {
      handle(std::move(w.request), std::move(w.reply));  // may wait again, for another key
    } else if (expire && now >= w.deadline_ms) {
      ++stats_.lock_wait_timeouts;
      w.reply(to_resp(txn::Participant::locked_reply(w.key)));
    } else {
      waiters_.push_back(std::move(w));
    }
  }
}

}  // namespace synod::kv
