// A snapshot: the host's state machine after applying every slot up to
// meta.slot, and what the log needs to carry on from there.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "synod/membership.h"
#include "synod/types.h"

namespace synod {

struct SnapshotMeta {
  // The last slot the snapshot covers. Slot{0}: no snapshot.
  Slot slot{};
  // The ballot the value at `slot` was chosen in (for INFO and debugging;
  // Paxos needs no log matching).
  Ballot ballot{};
  // The configuration that governs slot + 1 and after, unless `pending`:
  // one chosen at or below slot that governs only from pending_from (alpha
  // slots after it was chosen), beyond slot + 1.
  Membership membership;
  Membership pending;
  Slot pending_from{};
  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

// Cheap to copy: copies share the bytes, so the replica, the storage and a
// transfer in progress hold one copy of a large state machine image.
struct Snapshot {
  SnapshotMeta meta;
  // The host's own encoding of its state machine; never null.
  std::shared_ptr<const std::string> data = std::make_shared<const std::string>();

  bool empty() const { return meta.slot.value == 0; }
  static Snapshot of(SnapshotMeta meta, std::string bytes) {
    return Snapshot{std::move(meta), std::make_shared<const std::string>(std::move(bytes))};
  }
};

}  // namespace synod
