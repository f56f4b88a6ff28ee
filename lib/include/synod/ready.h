// A batch of work the Replica hands its host: persist, then send, then apply.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "synod/membership.h"
#include "synod/message.h"
#include "synod/snapshot.h"
#include "synod/storage.h"
#include "synod/types.h"
#include "synod/value.h"

namespace synod {

enum class Outcome : std::uint8_t {
  // Chosen at `slot`, command number `index` of that slot's batch.
  committed = 0,
  // Certainly never sent in an Accept: it will never be applied. Retry on the
  // leader named by the hint (if valid).
  not_leader = 1,
  // Sent in an Accept, then the leader lost its ballot: a later leader may
  // still choose it. The host must not report failure.
  unknown = 2,
};

std::string_view to_string(Outcome o);

// Each proposal ends with exactly one of these, never silently.
struct ProposalOutcome {
  Ticket ticket{};
  Outcome outcome = Outcome::unknown;
  Slot slot{};              // committed only
  std::uint32_t index = 0;  // committed only: position in the slot's batch
  NodeId leader_hint{};     // not_leader only; NodeId{} when unknown
};

// A linearizable read (Replica::read) the leader confirmed: serve it once the
// host applied every slot up to `index`. Not ok: the replica stopped leading
// before confirming; nothing happened, retry on the leader named by the hint.
struct ReadState {
  Ticket ticket{};
  Slot index{};
  bool ok = false;
  NodeId leader_hint{};
};

// Accepts are the leader's own proposals, not votes: they may leave before
// the Ready that holds them is durable, in parallel with the leader's own
// write (it counts its own acceptance only at advance(), once durable). That
// saves one disk latency per commit. Everything else waits for step 1.
inline bool may_send_before_persist(const Message& m) { return m.type == MessageType::accept; }

struct Ready {
  // 1. Save first, before hard_state and entries:
  //    Storage::save_snapshot(*snapshot, keep_from). A snapshot the host handed
  //    to Replica::compact(), or one received from a peer (then also in
  //    `restore`).
  std::optional<Snapshot> snapshot;
  Slot keep_from{};
  // 1. Persist before anything else. Set when it changed.
  std::optional<HardState> hard_state;
  // 1. Persist (save) together with hard_state.
  std::vector<Entry> entries;
  // 1. When true, sync() before step 2: a promise or accept is in `messages`.
  bool must_sync = false;
  // 2. Send only after step 1 is durable (DESIGN invariant 6), except the
  //    messages may_send_before_persist() names, which may go at once, in
  //    parallel with step 1.
  std::vector<Message> messages;
  // 3. Before applying `committed`, after step 1: replace the whole state
  //    machine with this snapshot. Received from a peer (this replica was
  //    too far behind for entries), or the stored one at start when
  //    Config::applied is below it. `committed` then starts at
  //    restore->meta.slot + 1.
  std::optional<Snapshot> restore;
  // 3. Apply in order after step 1. Chosen values, ascending consecutive slots.
  std::vector<Entry> committed;
  // 4. Report after applying `committed` (a committed outcome names a slot in
  //    `committed` or earlier).
  std::vector<ProposalOutcome> outcomes;
  // 3. The last configuration chosen, when it changed (and at start): the
  //    host connects to new members and drops removed ones. It governs from
  //    Config::alpha slots after the one it was chosen at.
  std::optional<Membership> membership;
  // 5. Confirmed reads (ReadIndex); serve each once applied >= its index.
  std::vector<ReadState> reads;

  bool empty() const {
    return !snapshot && !restore && !membership && !hard_state && entries.empty() &&
           messages.empty() && committed.empty() && outcomes.empty() && reads.empty();
  }
};

}  // namespace synod
