// The coordinator's forgetting of finished transactions (coordinator.h,
// docs/kv.md "Forgetting"): the ForgetEntry its leader proposes, what
// applying one does, and the floor every shard of a forgotten txn learns.
#include <algorithm>

#include "coordinator.h"

namespace synod::kv::txn {

Effects Coordinator::propose_forget() {
  Effects fx;
  // One ForgetEntry in flight; proposed again if it seems lost (a host may
  // drop a proposal without telling; a second copy changes nothing).
  if (forget_in_flight_ && now_ - forget_proposed_tick_ < 10 * opt_.resend_ticks) return fx;
  if (forget_proposed_tick_ != 0 && now_ - forget_proposed_tick_ < opt_.forget_ticks) return fx;
  ForgetEntry f;
  // A prefix in id order, and below every Begin in flight here, so that the
  // floor passes only ids that are forgotten or never begun. This leader's
  // later ids are above it: its counter only grows, and an older term's ids
  // are all below a newer term's (synod-kv's TxnId, shard_txns.cc).
  const TxnId* in_flight = pending_.empty() ? nullptr : &pending_.begin()->first;
  for (const auto& [t, r] : records_) {
    if (f.txns.size() >= opt_.forget_batch) break;
    if (in_flight != nullptr && !(t < *in_flight)) break;
    if (!r.decided) break;
    auto d = drives_.find(t);
    if (!opt_.planted_forget_unacked && (d == drives_.end() || !d->second.all_acked)) break;
    f.txns.push_back(t);
  }
  if (f.txns.empty()) return fx;
  f.floor = f.txns.back().seq + 1;
  forget_in_flight_ = true;
  forget_proposed_tick_ = now_;
  fx.propose.emplace_back(std::in_place_type<ForgetEntry>, std::move(f));
  return fx;
}

Effects Coordinator::apply_forget(const ForgetEntry& f) {
  Effects fx;
  std::map<ShardId, std::uint64_t> owed;  // per shard, one past its last forgotten id
  for (const TxnId& t : f.txns) {
    auto r = records_.find(t);
    // Only decided records: the proposer saw every ack of that decision,
    // and the first decision never changes.
    if (r == records_.end() || !r->second.decided) continue;
    for (ShardId s : r->second.shards) {
      owed[s] = std::max(owed[s], t.seq + 1);
      floor_shards_.insert(s);
    }
    records_.erase(r);
    drives_.erase(t);
    forgotten_above_.insert(t);
  }
  // Past every id forgotten so far (a Forget whose floor an older record
  // held back left its ids above it): every id up to there is forgotten or
  // was never begun, this leader's own Begins in flight being above every
  // forgotten id (propose_forget()). But never past a record still held:
  // one may have been logged after the proposer chose the floor (an
  // inquiry's abort, an old term's Begin). So no record is ever below the
  // floor.
  std::uint64_t floor = f.floor;
  if (!forgotten_above_.empty()) floor = std::max(floor, forgotten_above_.rbegin()->seq + 1);
  if (!records_.empty()) floor = std::min(floor, records_.begin()->first.seq);
  floor_ = std::max(floor_, floor);
  // Forgotten ids the floor passed need no entry of their own any more.
  while (!forgotten_above_.empty() && forgotten_above_.begin()->seq < floor_)
    forgotten_above_.erase(forgotten_above_.begin());
  if (!leader_) return fx;
  forget_in_flight_ = false;
  for (const auto& [s, floor] : owed) owe_floor(s, floor);
  floor_sent_tick_ = now_;
  send_floor(&fx);
  return fx;
}

void Coordinator::owe_floor(ShardId shard, std::uint64_t floor) {
  std::uint64_t& owed = floor_owed_[shard];
  owed = std::max(owed, floor);
}

void Coordinator::send_floor(Effects* fx) const {
  // The floor as it is: a shard keeps its records above it a while longer
  // (until a record still held here lets the floor pass them), and acks
  // again as the floor rises.
  for (const auto& [s, owed] : floor_owed_) fx->send.push_back({s, FloorMsg{self_, floor_}});
}

Effects Coordinator::on_floor_ack(const FloorAckMsg& m) {
  auto it = floor_owed_.find(m.from);
  if (it != floor_owed_.end() && m.floor >= it->second) floor_owed_.erase(it);
  return {};
}

}  // namespace synod::kv::txn
