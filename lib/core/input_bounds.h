// Bounds on the numbers a message carries, checked where it enters the core
// after its structure (message_check.h). No correct peer exceeds them; a
// message that does is dropped and counted (ReplicaInfo::refused), never
// acted on: to Paxos it is a lost message. docs/protocol.md, "Input the core
// refuses", lists the rules.
#pragma once

#include <algorithm>

#include "context.h"
#include "message_check.h"

namespace synod::detail {

// Ballot rounds. A correct proposer's round is one above the highest round it
// has seen (next_round below), so rounds grow by one per campaign: a cluster
// holding an election every millisecond needs 146 million years to reach
// 2^62. A round above it is forged, and refusing it keeps every round a
// correct replica ever promises low enough that next_round never wraps.
inline constexpr std::uint64_t kRoundMax = std::uint64_t{1} << 62;
// And no more than 2^32 campaigns above the highest round this replica has
// seen or promised: a correct peer got there one campaign at a time, and a
// replica (even a new or amnesiac one, starting from 0) misses fewer than
// 2^32 elections. One forged message then raises rounds by 2^32 at most, so
// pushing them to kRoundMax takes 2^30 accepted messages, not one.
inline constexpr std::uint64_t kRoundLeap = std::uint64_t{1} << 32;
// Slots and commit indexes: a cluster choosing ten million slots a second
// needs 14,000 years to reach 2^62; a slot above it is forged.
inline constexpr std::uint64_t kSlotMax = std::uint64_t{1} << 62;

// The round of a new ballot (a campaign or a probe): above every round seen.
inline std::uint64_t next_round(const Context& ctx) {
  std::uint64_t seen = std::max(ctx.max_round_seen, ctx.hard.promised.round);
  SYNOD_ASSERT(seen <= kRoundMax, "round {} is above the bound {}: a forged ballot got in", seen,
               kRoundMax);
  return seen + 1;
}

inline bool round_in_bounds(const Context& ctx, const Message& m) {
  std::uint64_t seen = std::max(ctx.max_round_seen, ctx.hard.promised.round);
  return m.ballot.round <= kRoundMax && m.ballot.round <= seen + kRoundLeap;
}

// Types whose slot field is a nonce, a request id or a read round, not a slot.
inline bool slot_is_a_slot(MessageType t) {
  switch (t) {
    case MessageType::heartbeat:
    case MessageType::heartbeat_ack:
    case MessageType::rejoin_query:
    case MessageType::rejoin_reply:
    case MessageType::read_index_request:
    case MessageType::read_index_reply:
      return false;
    default:
      return true;
  }
}

inline bool slots_in_bounds(const Message& m) {
  if (m.commit.value > kSlotMax) return false;
  if (!m.entries.empty() && m.entries.back().slot.value > kSlotMax) return false;
  if (slot_is_a_slot(m.type) && (m.slot.value > kSlotMax || m.slot_end.value > kSlotMax))
    return false;
  switch (m.type) {
    case MessageType::accept:
      // A leader sends accepts only for slots after its commit index.
      return m.commit < m.entries.front().slot;
    case MessageType::catchup_reply:
      // Catch-up carries chosen values only: none above the sender's commit.
      return m.entries.empty() || m.entries.back().slot <= m.commit;
    default:
      return true;
  }
}

// Structure, then rounds, then slots; counts the reason of a refusal.
inline bool admit(Context& ctx, const Message& m) {
  if (!well_formed(ctx, m)) {
    ++ctx.refused.malformed;
    return false;
  }
  if (!round_in_bounds(ctx, m)) {
    ++ctx.refused.round;
    return false;
  }
  if (!slots_in_bounds(m)) {
    ++ctx.refused.slot;
    return false;
  }
  return true;
}

}  // namespace synod::detail
