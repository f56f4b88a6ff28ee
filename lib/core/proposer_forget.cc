// Proposer::forget: a member bit the quorum freed may soon name another id,
// so nothing the proposer holds under it may count for that id.
#include <algorithm>

#include "proposer.h"

namespace synod::detail {

void Proposer::forget(VoterMask freed) {
  if (freed == 0) return;
  // Answers under a freed bit came from an id no configuration held names:
  // they count for no quorum now, and must not count for the next holder.
  if (probe_) probe_->yes &= ~freed;
  asked_mask_ &= ~freed;
  if (CandidateState* c = std::get_if<CandidateState>(&state_)) {
    c->promised &= ~freed;
    for (unsigned i = 0; i < c->promises.size(); ++i)
      if (freed & (VoterMask{1} << i)) c->promises[i] = PeerPromise{false, c->from_slot};
    // The quorum already dropped the ids: those it no longer knows go.
    std::erase_if(c->asked, [&](NodeId v) { return !ctx_.quorum.index_of(v).has_value(); });
  }
  if (LeaderState* l = std::get_if<LeaderState>(&state_)) {
    l->heard &= ~freed;
    for (InFlight& f : l->inflight) f.acks &= ~freed;
  }
  reads_.forget(freed);
}

}  // namespace synod::detail
