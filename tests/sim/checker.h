// Safety checks the simulator runs on every event (docs/invariants.md):
// agreement per slot, chosen values never change, each replica applies one
// chosen log in order and only values a majority of the slot's configuration
// accepted, promises never go back (across restarts too), promises and
// accepts are durable before they leave, and every acknowledged command is in
// the chosen log exactly once. "Chosen" follows the configuration governing
// each slot (governing.h), as the protocol defines it.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "governing.h"
#include "synod/memory_storage.h"
#include "synod/message.h"
#include "synod/ready.h"

namespace synod::sim {

struct CheckFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Checker {
 public:
  // nodes: every id the run may use (1..nodes); initial: the configuration
  // slot 1 starts with; alpha: how far after its slot a configuration governs.
  Checker(std::size_t nodes, Membership initial, std::uint64_t alpha)
      : nodes_(nodes + 1), governing_(std::move(initial), alpha) {}

  // A replica (re)started: its state machine is empty again. wiped: its
  // storage was lost too, so its promise legitimately restarts from zero, but
  // it must not vote below anything it voted for before (docs/invariants.md, invariant 6).
  void on_start(NodeId n, bool wiped);
  // The host applied a committed entry on node n.
  void on_apply(NodeId n, const Entry& e);
  // After applying up to `applied`, node n's state machine has this digest:
  // every replica must agree on it slot by slot.
  void on_state(NodeId n, Slot applied, std::uint64_t digest);
  // Node n replaced its state machine with a snapshot of `slot`.
  void on_restore(NodeId n, Slot slot, std::uint64_t digest);
  // A proposal ended; payload is the command the ticket carried.
  void on_outcome(NodeId n, const ProposalOutcome& o, const std::string& payload);
  // A membership change ended (Replica::change_membership's ticket).
  void on_change_outcome(NodeId n, const ProposalOutcome& o) const;
  // The host is about to send m from node n, whose storage is s.
  void on_send(NodeId n, const Message& m, const MemoryStorage& s);
  // After every event: the promise seen now on node n.
  void on_promise_seen(NodeId n, Ballot promised);
  // Leader n's own acceptance of e, durable now: the leader counts it toward
  // the quorum without a message (Replica::advance), so the checker does too.
  void on_own_vote(NodeId n, const Entry& e);

  // The highest promise that ever left node n (its earlier incarnations too).
  Ballot promised_sent(NodeId n) const { return nodes_.at(n.value).promised_sent; }

  // The highest slot any acknowledged command occupies: a read asked now
  // must see at least this far (linearizability of ReadIndex).
  Slot acknowledged_floor() const { return acked_floor_; }
  void on_read(NodeId n, const ReadState& r, Slot floor_when_asked);

  // End of run: every acknowledged command sits where it was acknowledged.
  void final_check() const;

  std::size_t chosen_slots() const { return chosen_.size(); }
  std::size_t acknowledged() const { return acked_.size(); }

 private:
  struct NodeState {
    Slot applied{};
    Ballot promised_now{};
    Ballot promised_sent{};  // the highest promise that left this node
    bool amnesiac = false;   // wiped and not yet voting again
  };
  struct Place {
    Slot slot{};
    std::uint32_t index = 0;
  };

  // What one slot saw in one ballot: the leader's proposal and the
  // acceptances (durable, then announced or counted by the leader itself).
  struct BallotVotes {
    std::optional<Value> proposed;
    std::optional<Value> accepted;
    std::vector<std::uint64_t> voters;
  };
  void on_accepted_sent(NodeId n, const Message& m, const MemoryStorage& s);
  void on_accept_sent(const Message& m);
  void vote(NodeId n, Slot x, Ballot b, const Value& v);
  // Which values of slot x a majority of its configuration accepted in one
  // ballot (once that configuration is known), and P2c for them.
  void decide(std::uint64_t x);
  void check_proposal(std::uint64_t x, Ballot b, const Value& v) const;

  std::vector<NodeState> nodes_;
  Governing governing_;
  std::map<std::uint64_t, std::map<Ballot, BallotVotes>> votes_;  // slot -> ballot -> votes
  // Slots with votes whose configuration is not known yet.
  std::set<std::uint64_t> undecided_;
  struct Chosen {
    Ballot ballot{};  // the lowest ballot a majority accepted it in
    Value value{};
  };
  // Values a true majority accepted in one ballot: chosen, before any learner
  // knows it.
  std::map<std::uint64_t, Chosen> chosen_by_votes_;
  std::map<std::uint64_t, Value> chosen_;
  std::map<std::uint64_t, std::uint64_t> digests_;  // slot -> state machine digest
  std::map<std::string, Place> placed_;             // command -> where it was chosen
  std::map<std::string, Place> acked_;
  Slot acked_floor_{};
};

}  // namespace synod::sim
