// Safety checks the simulator runs on every event (DESIGN section 4):
// agreement per slot, chosen values never change, each replica applies one
// chosen log in order, promises never go back (across restarts too), promises
// and accepts are durable before they leave, and every acknowledged command
// is in the chosen log exactly once.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "synod/memory_storage.h"
#include "synod/message.h"
#include "synod/ready.h"

namespace synod::sim {

struct CheckFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Checker {
 public:
  explicit Checker(std::size_t nodes) : nodes_(nodes + 1), majority_(nodes / 2 + 1) {}

  // A replica (re)started: its state machine is empty again. wiped: its
  // storage was lost too, so its promise legitimately restarts from zero, but
  // it must not vote below anything it voted for before (DESIGN invariant 6).
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
  // The host is about to send m from node n, whose storage is s.
  void on_send(NodeId n, const Message& m, const MemoryStorage& s);
  // After every event: the promise seen now on node n.
  void on_promise_seen(NodeId n, Ballot promised);

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

  void on_accepted_sent(NodeId n, const Message& m, const MemoryStorage& s);
  void on_accept_sent(const Message& m) const;

  std::vector<NodeState> nodes_;
  std::size_t majority_;
  // Votes per (slot, ballot) seen leaving acceptors, and the values a true
  // majority accepted in one ballot: chosen, before any learner knows it.
  std::map<std::pair<std::uint64_t, Ballot>, std::vector<std::uint64_t>> votes_;
  struct Chosen {
    Ballot ballot{};  // the lowest ballot a majority accepted it in
    Value value{};
  };
  std::map<std::uint64_t, Chosen> chosen_by_votes_;
  std::map<std::uint64_t, Value> chosen_;
  std::map<std::uint64_t, std::uint64_t> digests_;  // slot -> state machine digest
  std::map<std::string, Place> placed_;  // command -> where it was chosen
  std::map<std::string, Place> acked_;
  Slot acked_floor_{};
};

}  // namespace synod::sim
