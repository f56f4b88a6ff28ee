// Replica::Core: one replica's roles around one shared context. Its message
// dispatch is in replica_step.cc, the rest in replica.cc.
#pragma once

#include "acceptor.h"
#include "context.h"
#include "follower_reads.h"
#include "input_bounds.h"
#include "learner.h"
#include "proposer.h"
#include "quiescence.h"
#include "rejoin.h"
#include "synod/replica.h"

namespace synod {

class Replica::Core {
 public:
  Core(const Config& config, const Storage& storage);

  void tick();
  void step(const Message& msg);
  ProposeResult propose(std::string_view command);
  ProposeResult read();
  Status compact(Slot slot, std::string data);
  Status transfer_leadership(NodeId to) {
    wake(0);
    return proposer.transfer(to);
  }
  void campaign() {
    wake(0);
    if (!rejoin.active() && may_campaign())
      proposer.campaign(/*force=*/true, /*exclude_self=*/false);
  }
  bool has_ready() const {
    return !ctx.out.empty() || learner.has_committed() || proposer.can_flush();
  }
  // Rejoining after amnesia: it may not vote, lead or serve yet. (Only a
  // replica configured as a voter rejoins; it stays rejoining even while the
  // configurations it holds name it a learner, since a newer one it has not
  // learnt yet may count on its vote.)
  bool rejoining() const { return rejoin.active() && !proposer.leading(); }
  // Campaigning needs a vote: learners and removed members never campaign.
  // (A snapshot half received does not stop it: its source may be gone for
  // good, and a candidate behind a compaction point catches up before it
  // leads anyway.)
  bool may_campaign() const { return ctx.quorum.is_voter(ctx.self()); }
  ProposeResult change_membership(MembershipOp op, NodeId node) {
    wake(0);
    if (rejoining()) return {Status::rejoining, {}, ctx.leader};
    return proposer.change_membership(op, node);
  }
  Ready ready();
  void advance(const Ready& rd);
  ReplicaInfo info() const;
  Role role() const { return rejoining() ? Role::rejoining : proposer.role(); }
  NodeId leader() const { return ctx.leader; }

  // Quiescence (quiescence.cc, docs/protocol.md "Quiescence").
  bool quiesced() const { return sleep_.asleep; }
  void wake(std::uint64_t leader_silent_ticks);
  // What a message does to this replica asleep: nothing (it is answered or
  // dropped asleep), a wake as wake(0), or a wake as a leader lost.
  enum class SleepVerdict : std::uint8_t { stays_asleep, wakes, wakes_leaderless };
  SleepVerdict sleep_verdict(const Message& msg) const;

 private:
  bool leader_may_sleep() const;
  void fall_asleep_leading();
  void maybe_sleep_on(const Message& msg);
  bool follows_quiesced(NodeId leader, Ballot ballot, Slot commit) const;
  void maybe_sleep_deferred();
  void wake_for(const Message& msg);
  void tick_asleep();
  void recover(const Storage& storage);
  bool step_ballot(const Message& msg);
  void step_service(const Message& msg);
  void hear_leader(NodeId from, Ballot b);
  void outranked(NodeId hint);
  void reset_election_timer();

  detail::Context ctx;
  detail::Acceptor acceptor{ctx};
  detail::Proposer proposer{ctx};
  detail::Learner learner;
  detail::Rejoiner rejoin{ctx, proposer};
  detail::FollowerReads follower_reads{ctx};
  std::uint64_t election_elapsed = 0;
  std::uint64_t election_timeout = 0;
  detail::Quiescence sleep_;
};

}  // namespace synod
