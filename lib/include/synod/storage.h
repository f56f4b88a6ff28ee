// The durable state a Replica recovers from, and where hosts write Readys.
#pragma once

#include <span>
#include <vector>

#include "synod/status.h"
#include "synod/types.h"
#include "synod/value.h"

namespace synod {

// State that must survive a restart besides the entries.
struct HardState {
  // Invariant: never decreases, across restarts too (DESIGN invariant 1).
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
  // Every stored entry, ascending by slot, one per slot (the last saved wins).
  virtual std::vector<Entry> entries() const = 0;

  // Stage a hard state (if non-null) and entries. An entry for a slot already
  // stored replaces it. Not durable until sync() returns ok.
  virtual Status save(const HardState* hs, std::span<const Entry> entries) = 0;
  // Make every staged write durable. An error is fatal to the replica.
  virtual Status sync() = 0;
};

}  // namespace synod
