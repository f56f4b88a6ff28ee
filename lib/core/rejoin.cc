#include "rejoin.h"

namespace synod::detail {

VoterMask Rejoiner::others() const {
  VoterMask all = 0;
  for (NodeId v : ctx_.quorum.voters())
    if (v != ctx_.self()) all |= ctx_.quorum.bit(v);
  return all;
}

// Entries learnt by catch-up since the start are chosen values, not votes;
// a vote would have raised the promise.
bool Rejoiner::all_empty() const {
  return (empty_ & others()) == others() && ctx_.hard.promised.is_zero();
}

void Rejoiner::start() {
  // One incarnation, one start: no answer may predate its nonce.
  SYNOD_ASSERT(empty_ == 0 && replied_ == 0 && commit_target_ == Slot{},
               "rejoin started over earlier answers");
  ctx_.set_voting(false);
  SYNOD_ASSERT(active(), "rejoining while voting");
  replied_ = 0;
  // Answers must come from this incarnation's questions: a delayed answer to
  // an earlier incarnation may predate votes that incarnation cast.
  nonce_ = ctx_.rng.next() | 1;
  query_missing();
}

void Rejoiner::query_missing() {
  SYNOD_ASSERT(active(), "rejoin queries from a voting replica");
  for (NodeId v : ctx_.quorum.voters()) {
    if (v == ctx_.self() || (replied_ & ctx_.quorum.bit(v))) continue;
    Message m;
    m.type = MessageType::rejoin_query;
    m.to = v;
    m.slot = Slot{nonce_};
    ctx_.send(std::move(m));
  }
}

void Rejoiner::answer(const Message& query) {
  Message r;
  r.type = MessageType::rejoin_reply;
  r.to = query.from;
  r.slot = query.slot;  // the asker's nonce
  r.ballot = ctx_.hard.promised;
  r.commit = ctx_.log.commit();
  ctx_.send(std::move(r));
}

void Rejoiner::on_reply(const Message& msg) {
  if (!active() || msg.slot.value != nonce_) return;
  replied_ |= ctx_.quorum.bit(msg.from);
  // One answer of zero, given after this replica started, is enough: the
  // peer had not campaigned or promised anything by then, whatever it did
  // since (so it never took a vote of this replica's past).
  if (msg.ballot.is_zero() && msg.commit.value == 0) empty_ |= ctx_.quorum.bit(msg.from);
  if (msg.ballot.round > ctx_.max_round_seen) ctx_.max_round_seen = msg.ballot.round;
  if (msg.commit > commit_target_) commit_target_ = msg.commit;
  // An empty answer is an answer: forget() clears both masks together.
  SYNOD_ASSERT((empty_ & ~replied_) == 0, "empty answers {:#x} outside the replies {:#x}", empty_,
               replied_);
}

void Rejoiner::tick() {
  // Ask again soon: answers taken before anyone campaigns settle a new
  // cluster without an election's delay.
  if (active() && ++ticks_ % (2 * ctx_.config.heartbeat_ticks) == 0 &&
      (replied_ & others()) != others())
    query_missing();
}

void Rejoiner::on_election_timeout(bool receiving_snapshot) {
  if (!active() || proposer_.leading()) return;
  // A learner has no vote to restore until a configuration makes it a voter.
  if (!ctx_.quorum.is_voter(ctx_.self())) return;
  if ((replied_ & others()) != others()) {
    query_missing();
    // A peer with state proves the cluster is not new, and then a majority
    // of the others is enough: the campaign below needs their promises only
    // (a ballot this replica promised and forgot is held by one of them, so
    // its campaign is refused until it goes above it). Waiting for everyone
    // would let one dead voter keep a replaced disk out for good.
    bool existing = (replied_ & ~empty_ & others()) != 0;
    if (!existing || !ctx_.quorum.is_quorum(replied_ & others())) return;
  }
  if (all_empty()) {
    // Invariant 6 (docs/invariants.md): a new cluster only: every other voter
    // reported no promise and no commit, and this replica promised nothing.
    SYNOD_ASSERT((empty_ & others()) == others() && ctx_.hard.promised.is_zero(),
                 "voting again without every voter's empty answer");
    ctx_.set_voting(true);
    return;
  }
  // Catching up the chosen prefix first keeps the promise reports short.
  // And a campaign started while a snapshot is being received may win
  // promises yet be unable to take office until the transfer ends (its
  // promisers compacted what it lacks: Proposer::promised_enough); it only
  // deposes the live leader meanwhile. Each retry did it again, and the new
  // leaders' slots and snapshots kept a slow transfer from ending (synod-sim
  // --quiesce --replicas 5 seed 963856). A catch-up by entries is not
  // waited for: under a steady load the commit reported keeps moving ahead
  // of it, and the campaign's promises bound what remains to fetch.
  if (ctx_.planted(PlantedBug::rejoin_campaign_while_receiving)) receiving_snapshot = false;
  if (receiving_snapshot || ctx_.log.commit() < commit_target_) return;
  // A majority of the others answered, and the chosen prefix they reported is
  // held: the campaign below (without this replica's own vote) decides.
  SYNOD_ASSERT(ctx_.quorum.is_voter(ctx_.self()) && ctx_.log.commit() >= commit_target_,
               "rejoin campaign from a non-voter or behind the commit reported");
  if (proposer_.campaigning())
    proposer_.retry_campaign();
  else
    proposer_.campaign(/*force=*/true, /*exclude_self=*/true);
}

}  // namespace synod::detail
