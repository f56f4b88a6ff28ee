// The durable state a Replica recovers from, and where hosts write Readys.
#pragma once

#include <span>
#include <vector>

#include "synod/snapshot.h"
#include "synod/status.h"
#include "synod/types.h"
#include "synod/value.h"

namespace synod {

// State that must survive a restart besides the entries.
struct HardState {
  // Invariant: never decreases, across restarts too (docs/invariants.md, invariant 1).
  Ballot promised{};
  // Every slot up to commit is chosen and its entry is stored.
  Slot commit{};
  // False until the replica may vote: a rejoining replica persists false
  // first, so a crash mid-rejoin resumes rejoining rather than voting.
  bool voting = true;
  friend bool operator==(const HardState&, const HardState&) = default;
};

// Read side: what Replica's constructor reads. Write side: what the host calls
// with each Ready. Implementations need not be thread-safe; the host
// serialises calls.
class Storage {
 public:
  virtual ~Storage() = default;

  // True when nothing was ever saved (a new or wiped replica).
  virtual bool empty() const = 0;
  virtual HardState hard_state() const = 0;
  // Every stored entry, ascending by slot, one per slot (the last saved wins),
  // none below the keep_from of the last save_snapshot().
  virtual std::vector<Entry> entries() const = 0;
  // The last snapshot saved; empty() when none.
  virtual Snapshot snapshot() const = 0;

  // Stage a hard state (if non-null) and entries. An entry for a slot already
  // stored replaces it. Not durable until sync() returns ok.
  virtual Status save(const HardState* hs, std::span<const Entry> entries) = 0;
  // Stage a snapshot, replacing the stored one, and forget every entry below
  // keep_from (precondition: keep_from <= snap.meta.slot + 1, and snap.meta.slot
  // above the stored snapshot's): entries() never returns one again. A Ready's
  // snapshot is saved before its hard state and entries.
  // Atomic across a crash: recovery finds either the old snapshot with the old
  // entries, or the new one with no entry below keep_from, never a mix. The
  // space of dropped entries may be reclaimed later.
  virtual Status save_snapshot(const Snapshot& snap, Slot keep_from) = 0;
  // Make every staged write durable. An error is fatal to the replica.
  virtual Status sync() = 0;
};

}  // namespace synod
