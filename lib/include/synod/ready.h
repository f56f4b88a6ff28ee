// A batch of work the Replica hands its host. The host finishes each Ready in
// five steps, in this order (docs/embedding.md walks through a whole loop):
//   1. persist: snapshot, then hard_state and entries; sync() when must_sync;
//   2. send messages;
//   3. restore, then apply committed; take note of membership;
//   4. report outcomes and reads;
//   5. Replica::advance(rd).
// Readys are finished in the order ready() returned them; ready() may be
// called again before an earlier one is finished (group commit).
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

// Each proposal ends with exactly one of these, never silently, in a Ready of
// the replica whose propose() (or change_membership()) returned the ticket.
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
  // 1. Save after the snapshot, before anything else. Set when it changed.
  std::optional<HardState> hard_state;
  // 1. Persist (save) together with hard_state.
  std::vector<Entry> entries;
  // 1. When true, sync() before step 2 and before advance(): entries, a
  //    raised promise, a changed voting flag or a snapshot received from a
  //    peer must be durable before any message leaves and before the leader
  //    counts its own acceptance. Always true when `entries` is not empty.
  //    When false, nothing here needs a sync: a hard state that only moved
  //    `commit` (a lost commit index is learnt again from peers; recovery
  //    clamps it to the entries present) and a snapshot the host took with
  //    compact() may stay staged until a later sync() makes them durable
  //    with everything saved before it.
  bool must_sync = false;
  // 2. Send only after step 1 is durable (docs/protocol.md, "Durability"),
  //    except the messages may_send_before_persist() names, which may go at
  //    once, in parallel with step 1. Each names its peer in `to`.
  std::vector<Message> messages;
  // 3. Before applying `committed`, after step 1: replace the whole state
  //    machine with this snapshot. Received from a peer (this replica was
  //    too far behind for entries), or the stored one at start when
  //    Config::applied is below it. `committed` then starts at
  //    restore->meta.slot + 1.
  std::optional<Snapshot> restore;
  // 3. Apply in order after step 1. Every chosen slot, ascending and
  //    consecutive, not only commands: no-ops (a new leader fills holes and
  //    commits one in its ballot; more follow a membership change) apply
  //    nothing, and a configuration (ValueKind::config, also reported in
  //    `membership`) is the replica's, not a command for the state machine.
  //    Apply only value.kind() == ValueKind::commands, command by command.
  //    A follower learns that a slot is chosen from the leader's next accept
  //    or heartbeat, so it applies it up to heartbeat_ticks ticks after the
  //    leader: keep ticking every replica.
  std::vector<Entry> committed;
  // 4. Report after applying `committed` (a committed outcome names a slot in
  //    `committed` or earlier). Tickets are this replica's own (see propose()).
  std::vector<ProposalOutcome> outcomes;
  // 3. The last configuration chosen, when it changed (and at start): the
  //    host connects to new members and drops removed ones. It governs from
  //    Config::alpha slots after the one it was chosen at.
  std::optional<Membership> membership;
  // 4. Confirmed reads (ReadIndex); serve each once applied >= its index.
  std::vector<ReadState> reads;

  bool empty() const {
    return !snapshot && !restore && !membership && !hard_state && entries.empty() &&
           messages.empty() && committed.empty() && outcomes.empty() && reads.empty();
  }
};

}  // namespace synod
