// Rejoining after amnesia (docs/invariants.md, invariant 6). A replica that lost its
// durable state may have promised a ballot, or helped choose a value, that it
// no longer remembers. It does not vote until:
//  1. every other voter reported its promise, so the ballot it campaigns with
//     is above any ballot it could have promised before (a candidate's own
//     promise is durable before its Prepare leaves, so every such ballot is
//     held by some other voter); and
//  2. it completed phase 1 in that ballot with a majority of the OTHER voters,
//     which intersects every quorum that chose a value with its lost vote.
// It then leads with everything re-proposed, and votes again.
//
// One exception: when every other voter has reported no promise and no
// commit (each at some moment after this replica started), nobody had
// campaigned before it started (a candidate's own promise is durable before its
// prepare leaves), so this replica never voted either: it is a new cluster
// (every in-memory replica started together), and voting is safe at once.
#pragma once

#include "context.h"
#include "proposer.h"

namespace synod::detail {

class Rejoiner {
 public:
  Rejoiner(Context& ctx, Proposer& proposer) : ctx_(ctx), proposer_(proposer) {}

  bool active() const { return !ctx_.hard.voting; }
  // A rejoin this replica works on: a voter's. A replica that restarted
  // amnesiac as a voter and then learnt it is a learner stays amnesiac (a
  // later promotion must rejoin first) but has no vote to restore until
  // then (on_election_timeout does nothing for it), so nothing of it keeps
  // its group awake (docs/protocol.md, "Quiescence").
  bool in_progress() const { return active() && ctx_.quorum.is_voter(ctx_.self()); }
  void start();
  void on_reply(const Message& msg);
  // Another replica rejoins: tells it this replica's promise and commit
  // (answered even while this one rejoins too: it reports what it holds).
  void answer(const Message& query);
  // Resends queries to voters that have not answered.
  void tick();
  // Retries the campaign, or turns voting on for a new cluster.
  // receiving_snapshot: the learner assembles a snapshot (SnapshotReceiver);
  // no campaign starts then.
  void on_election_timeout(bool receiving_snapshot);
  // Member bits freed for other ids: answers under them are dropped.
  void forget(VoterMask freed) {
    replied_ &= ~freed;
    empty_ &= ~freed;
  }

 private:
  void query_missing();
  VoterMask others() const;

  Context& ctx_;
  Proposer& proposer_;
  bool all_empty() const;

  VoterMask replied_ = 0;
  VoterMask empty_ = 0;  // once replied with no promise and no commit
  std::uint64_t ticks_ = 0;
  std::uint64_t nonce_ = 0;  // echoed by answers to this incarnation
  Slot commit_target_{};
};

}  // namespace synod::detail
