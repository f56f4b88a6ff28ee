// Proposer::forget: a member bit the quorum freed may soon name another id,
// so nothing the proposer holds under it may count for that id.
#include <algorithm>

#include "proposer.h"

namespace synod::detail {

void Proposer::forget(VoterMask freed) {
  if (freed == 0) return;
  // Answers under a freed bit came from an id no configuration held names:
  // they count for no quorum now, and must not count for the next holder.
  probe_mask_ &= ~freed;
  promised_mask_ &= ~freed;
  asked_mask_ &= ~freed;
  heard_mask_ &= ~freed;
  for (InFlight& f : inflight_) f.acks &= ~freed;
  for (unsigned i = 0; i < promises_.size(); ++i)
    if (freed & (VoterMask{1} << i)) promises_[i] = PeerPromise{false, from_slot_};
  // The quorum already dropped the ids: those it no longer knows go.
  std::erase_if(asked_, [&](NodeId v) { return !ctx_.quorum.index_of(v).has_value(); });
  reads_.forget(freed);
}

}  // namespace synod::detail
