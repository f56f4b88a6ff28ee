// Snapshot transfer to a replica too far behind for entries: pull-based, one
// bounded chunk per request, so the receiver sets the pace (flow control), and
// resumable: a request names the snapshot and the bytes already held.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "context.h"

namespace synod::detail {

// The sending side. Each peer's transfer keeps the snapshot it started with,
// even after this replica compacts again, so a slow receiver is never sent
// back to offset 0 by every newer snapshot (a loop braft users hit).
class SnapshotSender {
 public:
  explicit SnapshotSender(Context& ctx) : ctx_(ctx) {}

  // Answers a catchup_request below this replica's compaction point with
  // the next chunk of its snapshot.
  void serve(const Message& request);
  // Forgets transfers idle for long (the receiver gave up or went away).
  void tick();

 private:
  struct Transfer {
    Snapshot snapshot;
    std::string trailer;
    std::uint64_t idle_ticks = 0;
  };

  Context& ctx_;
  std::map<NodeId, Transfer> transfers_;
};

// The receiving side: the image assembled so far, in order, from one source.
// Two replicas' snapshots of one slot may differ in bytes (a host's encoding
// need not be canonical), so an assembly resumes only from the peer it began
// with; another source starts over at 0.
class SnapshotReceiver {
 public:
  enum class Step { ignored, advanced, complete };

  bool active() const { return slot_.value != 0; }
  Slot slot() const { return slot_; }
  NodeId source() const { return source_; }
  std::uint64_t bytes() const { return image_.size(); }

  // Appends the chunk when it continues this assembly (or starts one at
  // offset 0, replacing an assembly of another snapshot).
  Step on_chunk(const Message& chunk);
  // After complete: the snapshot, or nullopt for a malformed image. Resets.
  std::optional<Snapshot> take();
  void reset();

 private:
  Slot slot_{};
  NodeId source_{};
  std::string image_;
};

}  // namespace synod::detail
