// The learner role: learns which slots are chosen, fetches chosen values it
// lacks (catch-up), and hands the chosen prefix to the host in order.
#pragma once

#include <vector>

#include "context.h"
#include "snapshot_transfer.h"

namespace synod::detail {

class Learner {
 public:
  Learner(Context& ctx, Slot applied) : ctx_(ctx), applied_(applied) {}

  // A leader of ballot b says slots up to commit are chosen. Invariant 5
  // (docs/invariants.md): only entries this replica accepted in ballot b are known
  // chosen by this; the rest are fetched.
  void on_leader_commit(NodeId from, Ballot b, Slot commit);
  // A peer reports its chosen prefix (promise, reject, ack): fetch if behind.
  void on_peer_commit(NodeId from, Slot commit);
  void on_catchup_request(const Message& msg);
  void on_catchup_reply(const Message& msg);
  void on_snapshot_chunk(const Message& msg);
  void tick();

  // The host restores the stored snapshot at start (its state machine is
  // older): committed entries follow it.
  void restore_at_start(const Snapshot& snap);
  // Log compaction at `slot`, which the host already applied.
  void compact(const Snapshot& snap);
  std::uint64_t compactions_cut_by_bytes() const { return cut_by_bytes_; }
  // A snapshot is arriving from a peer.
  bool installing() const { return receiver_.active(); }
  // Catching up: a request is outstanding, or a peer reported chosen slots
  // this replica lacks. Quiescence waits for it (quiescence.cc). A snapshot
  // half received is not: its source may be gone for good, and a replica
  // that still lacks slots is behind, which keeps its leader awake anyway.
  // Nor is a transfer this replica serves: its receiver is behind too.
  bool busy() const { return requesting_ || ctx_.log.commit() < known_commit_; }
  const SnapshotReceiver& receiver() const { return receiver_; }

  Slot applied() const { return applied_; }
  bool has_committed() const { return ctx_.log.commit() > applied_; }
  // Chosen entries not yet handed to the host; marks them applied.
  std::vector<Entry> take_committed();

 private:
  void maybe_request();
  // A reply's sender is further ahead than anyone known: fetch from it.
  void note_sender_commit(const Message& msg);
  void switch_source();
  void install(const Snapshot& snap);
  // Where the kept tail below a snapshot at `slot` starts so that it holds at
  // most Config::compaction_tail_bytes of commands: in [floor, slot + 1].
  Slot tail_start_by_bytes(Slot slot, Slot floor) const;

  Context& ctx_;
  SnapshotSender sender_{ctx_};
  SnapshotReceiver receiver_;
  Slot applied_;
  Slot known_commit_{};
  NodeId best_{};    // the peer that reported known_commit_
  NodeId source_{};  // the peer fetched from now
  bool requesting_ = false;
  bool holding_ = false;  // a useless answer came: wait for the next tick
  Slot requested_{};      // the slot the outstanding request starts at
  std::uint64_t ticks_waiting_ = 0;
  unsigned rotation_ = 0;
  std::uint64_t cut_by_bytes_ = 0;
};

}  // namespace synod::detail
