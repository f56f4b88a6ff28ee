// The bench's state machine: what every replica applies. It keeps no
// per-command history, only counts and an order-sensitive digest, so its
// memory is constant however long the run and its snapshot image is 32
// bytes: a long run measures the log's memory, not the application's. The
// digest lets the run check that the replicas applied the same commands in
// the same order, restores from snapshots included.
#pragma once

#include <cstdint>
#include <string>

#include "synod/snapshot.h"
#include "synod/types.h"
#include "synod/value.h"

namespace synod::bench {

class BenchStateMachine {
 public:
  // A chosen slot, in log order: each of its commands (none for a new
  // leader's no-op).
  void apply(const Entry& e);
  // One command, for hosts that apply command by command (UvHost); they
  // track the slot themselves.
  void apply_command(std::string_view command);
  // The image of the state now (counts and digest; the slot is the
  // snapshot's own meta).
  std::string image() const;
  // Replaces the state with a snapshot's image; false when it is not one of
  // ours.
  bool restore(const Snapshot& snap);

  Slot applied() const { return applied_; }
  std::uint64_t commands() const { return commands_; }
  std::uint64_t digest() const { return digest_; }

 private:
  Slot applied_{};
  std::uint64_t commands_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t digest_ = 0;
};

}  // namespace synod::bench
