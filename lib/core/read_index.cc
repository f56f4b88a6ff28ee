#include "read_index.h"

#include <algorithm>

namespace synod::detail {

void ReadIndex::start_term(Slot barrier) {
  // The barrier is the last slot the new leader re-proposed: past commit.
  SYNOD_ASSERT(barrier > ctx_.log.commit(), "barrier {} not above the commit index {}",
               barrier.value, ctx_.log.commit().value);
  // Reads never cross terms: stepping down answered every one (abandon).
  SYNOD_ASSERT(early_.empty() && pending_.empty(), "{} reads of an earlier term still wait",
               early_.size() + pending_.size());
  barrier_ = barrier;
  own_commit_ = false;
  acks_.clear();
  sent_at_.clear();
  lease_until_ = 0;
  on_commit();
}

void ReadIndex::answer(const Asker& a, Slot index, bool ok, NodeId hint) {
  // Invariant 10 (docs/invariants.md): a read index is at most the commit
  // index, and only a term's own committed slot makes it current.
  SYNOD_ASSERT(!ok || index <= ctx_.log.commit(), "read index {} above the commit index {}",
               index.value, ctx_.log.commit().value);
  SYNOD_ASSERT(!ok || own_commit_, "a read answered before this term committed a slot");
  if (!a.remote.valid()) {
    // The host matches answers to the ticket read() returned (from 1 on).
    SYNOD_ASSERT(a.ticket.value != 0, "a host read without a ticket");
    ctx_.out.reads.push_back(ReadState{a.ticket, index, ok, hint});
    return;
  }
  Message r;
  r.type = MessageType::read_index_reply;
  r.to = a.remote;
  r.slot = Slot{a.id};
  r.commit = index;
  r.reject = !ok;
  ctx_.send(std::move(r));
}

void ReadIndex::request(Ticket t, NodeId remote, std::uint64_t id, bool lease) {
  Asker a{t, remote, id};
  if (!own_commit_) {
    early_.push_back(a);
    return;
  }
  if (lease && ctx_.config.lease_reads && lease_held()) {
    answer(a, ctx_.log.commit(), true, {});
    return;
  }
  SYNOD_ASSERT(ctx_.log.commit() >= barrier_, "read index {} below the term's barrier {}",
               ctx_.log.commit().value, barrier_.value);
  pending_.push_back(Pending{a, ctx_.log.commit(), sent_round_ + 1});
  // confirm() answers from the front while rounds are confirmed: it relies on
  // ascending rounds (and indexes, as the commit index only rises).
  SYNOD_ASSERT(
      pending_.size() < 2 || (pending_[pending_.size() - 2].round <= pending_.back().round &&
                              pending_[pending_.size() - 2].index <= pending_.back().index),
      "read round {} queued behind a later round", pending_.back().round);
  if (ctx_.planted(PlantedBug::read_without_confirm)) confirm(sent_round_ + 1);
}

void ReadIndex::on_commit() {
  if (own_commit_ || ctx_.log.commit() < barrier_) return;
  own_commit_ = true;
  std::deque<Asker> early = std::move(early_);
  early_.clear();
  for (const Asker& a : early) request(a.ticket, a.remote, a.id, /*lease=*/false);
}

std::uint64_t ReadIndex::next_round() {
  // Every heartbeat while reads wait (or a lease is kept) is a new round: a
  // round whose acks were lost is simply superseded.
  if (pending_.empty() && !ctx_.config.lease_reads) return 0;
  std::uint64_t want = pending_.empty() ? 0 : pending_.back().round;
  sent_round_ = std::max(sent_round_ + 1, want);
  VoterMask self = ctx_.quorum.bit(ctx_.self());
  // Quorum::recycle never frees this replica's own bit: its ack counts.
  SYNOD_ASSERT(self != 0, "the leader holds no member bit for its own ack");
  acks_[sent_round_] = self;
  if (ctx_.config.lease_reads) sent_at_[sent_round_] = now_;
  SYNOD_ASSERT(pending_.empty() || pending_.back().round <= sent_round_,
               "read round {} waits beyond the round sent {}", pending_.back().round, sent_round_);
  if (ctx_.quorum.is_quorum(self)) confirm(sent_round_);  // a single voter
  return sent_round_;
}

void ReadIndex::on_ack(NodeId from, std::uint64_t round) {
  auto it = acks_.find(round);
  if (it == acks_.end()) return;
  SYNOD_ASSERT(round <= sent_round_, "acks held for round {}, never sent (last {})", round,
               sent_round_);
  it->second |= ctx_.quorum.bit(from);
  if (ctx_.quorum.is_quorum(it->second)) confirm(round);
}

// Every read whose round is at or below `round` is confirmed.
void ReadIndex::confirm(std::uint64_t round) {
  // Only a round sent can be confirmed by a majority.
  SYNOD_ASSERT(round <= sent_round_ || ctx_.planted(PlantedBug::read_without_confirm),
               "confirming round {} before it was sent (last {})", round, sent_round_);
  if (auto it = sent_at_.find(round); it != sent_at_.end()) {
    // The lease runs from the round's send, never from its confirmation.
    SYNOD_ASSERT(it->second <= now_, "round {} sent at tick {}, after now {}", round, it->second,
                 now_);
    // Config::validate keeps the drift below the election timeout.
    SYNOD_ASSERT(ctx_.config.max_drift_ticks < ctx_.config.election_ticks,
                 "a lease of no length (drift {} >= election {})", ctx_.config.max_drift_ticks,
                 ctx_.config.election_ticks);
    std::uint64_t lease = ctx_.config.election_ticks - ctx_.config.max_drift_ticks;
    lease_until_ = std::max(lease_until_, it->second + lease);
  }
  while (!pending_.empty() && pending_.front().round <= round) {
    answer(pending_.front().asker, pending_.front().index, true, {});
    pending_.pop_front();
  }
  acks_.erase(acks_.begin(), acks_.upper_bound(round));
  sent_at_.erase(sent_at_.begin(), sent_at_.upper_bound(round));
}

void ReadIndex::spend_lease() {
  SYNOD_ASSERT(idle(), "a lease spent while {} reads wait", pending_.size() + early_.size());
  acks_.clear();
  sent_at_.clear();
  lease_until_ = 0;
  SYNOD_ASSERT(!lease_held(), "a lease kept after waking");
}

void ReadIndex::abandon(NodeId hint) {
  for (const Asker& a : early_) answer(a, {}, false, hint);
  for (const Pending& p : pending_) answer(p.asker, {}, false, hint);
  early_.clear();
  pending_.clear();
  acks_.clear();
  sent_at_.clear();
  lease_until_ = 0;
  SYNOD_ASSERT(!lease_held(), "a lease kept after stepping down");
}

}  // namespace synod::detail
