// The state of each proposer role, one type per role. The proposer holds
// exactly one of them (proposer.h): a new campaign constructs a fresh
// CandidateState and a won one a fresh LeaderState, so nothing of an earlier
// ballot survives into the next by a forgotten reset.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pending_commands.h"
#include "quorum.h"
#include "synod/membership.h"
#include "synod/replica.h"
#include "synod/value.h"

namespace synod::detail {

// A follower proposes nothing; its only proposer state is a pre-vote in
// progress, kept by the proposer itself (it ends when a campaign starts).
struct FollowerState {};

// Pre-vote: the ballot a follower would campaign with, and who said yes.
struct Probe {
  Ballot ballot{};
  VoterMask yes = 0;
};

// Phase 1 for all slots from from_slot, for one ballot.
struct CandidateState {
  struct PeerPromise {
    bool done = false;
    Slot next{};  // the chunk asked for next
  };
  struct Reported {
    Ballot ballot{};
    Value value{};
    bool chosen = false;
  };

  CandidateState(Slot from, bool force_prepare, bool exclude_own)
      : from_slot(from),
        force(force_prepare),
        exclude_self(exclude_own),
        promises(kMemberIdCapacity, PeerPromise{false, from}) {}

  Slot from_slot;
  // force: prepares bypass acceptors' stickiness. exclude_self: this
  // replica's own promise and log do not count (it rejoins after amnesia).
  bool force;
  bool exclude_self;
  std::vector<PeerPromise> promises;  // indexed by member bit
  VoterMask promised = 0;             // voters whose report is complete
  // Promisers compacted every slot up to here: lead only once committed.
  Slot must_reach{};
  std::vector<NodeId> asked;
  // Configurations reported at slots from from_slot (or held there by this
  // replica): a majority of each must promise too. Pinned in the quorum.
  std::vector<Membership> required;
  // Per slot, the value a new leader must propose (chosen, else highest ballot).
  std::map<Slot, Reported> reported;
};

// A leadership transfer in progress.
struct TransferState {
  NodeId to{};
  std::uint64_t ticks = 0;   // spent on it; abandoned after an election timeout
  bool handed_over = false;  // timeout_now sent since the last heartbeat
};

// Phase 2 in one ballot: batching, pipelining, commit, membership changes.
struct LeaderState {
  struct InFlight {
    VoterMask acks = 0;
    std::uint64_t sent_tick = 0;
    // How many proposals this slot carries: its tickets are the next ones in
    // inflight_tickets (one queue for all slots, no vector per slot).
    std::uint32_t tickets = 0;
  };
  struct PendingConfig {
    Membership membership;
    Ticket ticket{};  // none for an automatic promotion
  };

  // Invariant: inflight[i] is slot commit + 1 + i, and every slot in
  // [commit + 1, next_slot) holds this ballot's value in the log.
  std::deque<InFlight> inflight;
  // Invariant: the tickets of inflight's slots, slot after slot, each slot's
  // in batch order; inflight[i].tickets of them belong to slot i.
  std::deque<Ticket> inflight_tickets;
  Slot next_slot{};
  Slot sent_upto{};  // Accepts went out for slots up to here
  VoterMask heard = 0;
  std::uint64_t ticks_in_quorum_window = 0;
  std::uint64_t ticks_since_heartbeat = 0;
  PendingCommands pending;  // proposals not yet in a slot
  // Lease reads: ticks before this new leader's first accepts.
  std::uint64_t lease_wait = 0;
  // The next configuration to put in a slot, and the learners added as
  // voters, promoted once caught up (this leader's intent only: a new leader
  // does not promote them; the operator asks again).
  std::optional<PendingConfig> pending_config;
  std::vector<NodeId> promote_wanted;
  std::optional<TransferState> transfer;
};

}  // namespace synod::detail
