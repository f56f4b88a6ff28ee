// Linearizable reads without the log (ReadIndex). A read asked of the leader
// takes the commit index at that moment, once the leader has committed every
// slot it re-proposed on taking office (before that its commit index may be
// behind what an earlier leader chose: docs/protocol.md, "Linearizable reads"; committing just one
// slot of its own ballot is not enough in Multi-Paxos, where the recovered
// slots are re-proposed side by side). It is served once a heartbeat
// round sent after it was asked is acknowledged by a majority in the
// leader's ballot: then no other leader had chosen anything newer when the
// read was asked. One round confirms every read asked before it.
//
// Reads come from the host (a ticket) or from a follower (a request id the
// answer echoes). With Config::lease_reads, a round acknowledged by a
// majority also gives the leader a lease until the round's send tick plus
// election_ticks - max_drift_ticks: followers ignore other candidates for an
// election timeout after hearing the leader, so within the lease no other
// leader can have chosen anything, and reads are answered at once.
#pragma once

#include <deque>
#include <map>

#include "context.h"

namespace synod::detail {

class ReadIndex {
 public:
  explicit ReadIndex(Context& ctx) : ctx_(ctx) {}

  // A new term: reads wait until the commit index reaches barrier, the last
  // slot re-proposed (or the no-op) on taking office.
  void start_term(Slot barrier);
  // A read of the host's (remote invalid) or of a follower's (remote, id).
  // lease: the lease may answer it (not while handing leadership over).
  void request(Ticket t, NodeId remote, std::uint64_t id, bool lease);
  // The leader's commit index moved.
  void on_commit();
  // A heartbeat round is about to go out: its number, or 0 when no read
  // (and no lease) waits for one.
  std::uint64_t next_round();
  // True when reads wait for a round not sent yet (send heartbeats now).
  bool round_wanted() const { return !pending_.empty() && pending_.back().round > sent_round_; }
  void on_ack(NodeId from, std::uint64_t round);
  // Leadership ended: every read not yet confirmed fails (safe: no effect).
  void abandon(NodeId hint);
  // Member bits freed for other ids: acknowledgements under them are dropped.
  void forget(VoterMask freed) {
    for (auto& entry : acks_) entry.second &= ~freed;
  }
  void set_now(std::uint64_t now) { now_ = now; }
  // The lease holds now (lease_reads only).
  bool lease_held() const { return lease_until_ > now_; }
  // No read waits (a leader sleeps only then: quiescence.cc).
  bool idle() const { return early_.empty() && pending_.empty(); }
  // A leader woke from quiescence: its clock stood still while it slept, so
  // the lease it holds, and any lease a round sent before the sleep would
  // grant, are measured from a time long past. Both are dropped.
  void spend_lease();

 private:
  struct Asker {
    Ticket ticket{};
    NodeId remote{};
    std::uint64_t id = 0;
  };
  struct Pending {
    Asker asker;
    Slot index{};
    std::uint64_t round = 0;  // the first round sent after it was asked
  };
  void confirm(std::uint64_t round);
  void answer(const Asker& a, Slot index, bool ok, NodeId hint);

  Context& ctx_;
  Slot barrier_{};
  bool own_commit_ = false;      // a slot of this ballot is committed
  std::deque<Asker> early_;      // asked before own_commit_
  std::deque<Pending> pending_;  // ascending rounds
  std::uint64_t sent_round_ = 0;
  std::map<std::uint64_t, VoterMask> acks_;         // rounds sent, not yet confirmed
  std::map<std::uint64_t, std::uint64_t> sent_at_;  // round -> tick sent (lease)
  std::uint64_t now_ = 0;
  std::uint64_t lease_until_ = 0;
};

}  // namespace synod::detail
