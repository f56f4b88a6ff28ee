#include "read_index.h"

#include <algorithm>

namespace synod::detail {

void ReadIndex::start_term(Slot barrier) {
  barrier_ = barrier;
  own_commit_ = false;
  acks_.clear();
  on_commit();
}

void ReadIndex::request(Ticket t) {
  if (!own_commit_) {
    early_.push_back(t);
    return;
  }
  pending_.push_back(Pending{t, ctx_.log.commit(), sent_round_ + 1});
  if (ctx_.planted(PlantedBug::read_without_confirm)) confirm(sent_round_ + 1);
}

void ReadIndex::on_commit() {
  if (own_commit_ || ctx_.log.commit() < barrier_) return;
  own_commit_ = true;
  for (Ticket t : early_) request(t);
  early_.clear();
}

std::uint64_t ReadIndex::next_round() {
  // Every heartbeat while reads wait is a new round: a round whose acks were
  // lost is simply superseded.
  if (pending_.empty()) return 0;
  sent_round_ = std::max(sent_round_ + 1, pending_.back().round);
  VoterMask self = ctx_.quorum.bit(ctx_.self());
  acks_[sent_round_] = self;
  if (ctx_.quorum.is_quorum(self)) confirm(sent_round_);  // a single voter
  return sent_round_;
}

void ReadIndex::on_ack(NodeId from, std::uint64_t round) {
  auto it = acks_.find(round);
  if (it == acks_.end()) return;
  it->second |= ctx_.quorum.bit(from);
  if (ctx_.quorum.is_quorum(it->second)) confirm(round);
}

// Every read whose round is at or below `round` is confirmed.
void ReadIndex::confirm(std::uint64_t round) {
  while (!pending_.empty() && pending_.front().round <= round) {
    ctx_.out.reads.push_back(ReadState{pending_.front().ticket, pending_.front().index, true, {}});
    pending_.pop_front();
  }
  acks_.erase(acks_.begin(), acks_.upper_bound(round));
}

void ReadIndex::abandon(NodeId hint) {
  for (Ticket t : early_) ctx_.out.reads.push_back(ReadState{t, {}, false, hint});
  for (const Pending& p : pending_) ctx_.out.reads.push_back(ReadState{p.ticket, {}, false, hint});
  early_.clear();
  pending_.clear();
  acks_.clear();
}

}  // namespace synod::detail
