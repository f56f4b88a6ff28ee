// Structural checks on an incoming message before any role sees it. A message
// that fails is dropped: to Paxos it is a lost message, which is always safe.
#pragma once

#include "context.h"

namespace synod::detail {

inline bool ascending_slots(const std::vector<Entry>& entries, bool consecutive) {
  Slot prev{};
  for (const Entry& e : entries) {
    if (e.slot.value == 0 || e.slot <= prev) return false;
    if (consecutive && prev.value != 0 && e.slot != prev.next()) return false;
    prev = e.slot;
  }
  return true;
}

inline bool well_formed(const Context& ctx, const Message& m) {
  if (m.group != ctx.config.group || m.to != ctx.self()) return false;
  if (m.from == ctx.self()) return false;
  // Members of the configurations held. A replica behind also hears answers
  // from members it has only seen named (in a promise's report): promises
  // from the voters of a configuration reported to a candidate, and chosen
  // values from a member that joined after its commit index.
  bool answer = m.type == MessageType::promise || m.type == MessageType::reject ||
                m.type == MessageType::catchup_reply || m.type == MessageType::snapshot_chunk;
  // A learner (a joining node configured with an older member list) hears
  // anyone in its group: it counts in no quorum, and the leader may be a
  // member it has not learnt of yet.
  bool learner = !ctx.quorum.is_voter(ctx.self());
  if (!learner && !ctx.quorum.is_member(m.from) && !(answer && ctx.quorum.index_of(m.from)))
    return false;
  switch (m.type) {
    case MessageType::prepare:
    case MessageType::heartbeat:
      // Invariant 7: a proposer only uses ballots carrying its own id.
      return m.ballot.node == m.from && m.ballot.round > 0 && m.entries.empty();
    case MessageType::accept:
      return m.ballot.node == m.from && m.ballot.round > 0 && !m.entries.empty() &&
             ascending_slots(m.entries, true);
    case MessageType::promise:
      return m.slot.value > 0 && ascending_slots(m.entries, false) &&
             (m.entries.empty() ||
              (m.entries.front().slot >= m.slot && m.entries.back().slot < m.slot_end)) &&
             (!m.more || m.slot_end > m.slot);
    case MessageType::accepted:
      return m.slot.value > 0 && m.slot_end > m.slot &&
             m.slot_end.value - m.slot.value <= 1'000'000 && m.entries.empty();
    case MessageType::catchup_reply:
      return ascending_slots(m.entries, true);
    case MessageType::catchup_request:
      return m.slot.value > 0 && m.entries.empty() && m.payload.empty();
    case MessageType::snapshot_chunk:
      return m.slot.value > 0 && m.slot_end.value > 0 && m.entries.empty() &&
             m.payload.size() <= ctx.config.message_bytes_max;
    case MessageType::probe:
    case MessageType::timeout_now:
      return m.ballot.node == m.from && m.ballot.round > 0 && m.entries.empty();
    case MessageType::read_index_request:
    case MessageType::read_index_reply:
      return m.slot.value > 0 && m.entries.empty();
    case MessageType::probe_reply:
    case MessageType::heartbeat_ack:
    case MessageType::reject:
    case MessageType::rejoin_query:
    case MessageType::rejoin_reply:
      return m.entries.empty();
    case MessageType::node_heartbeat:
    case MessageType::host_message:
      // The host's (synod::GroupSet, GroupHost), never a replica's.
      return false;
  }
  return false;
}

}  // namespace synod::detail
