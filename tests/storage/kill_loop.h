// The kill -9 loop: a writer process appends to a real log and reports what
// is durable, now and then with a snapshot; it is killed at random points;
// after each kill the log is recovered and every record and snapshot reported
// durable must be there, intact.
#pragma once

#include <cstdint>
#include <string>

#include "synod/log_storage.h"
#include "synod/value.h"

namespace synod::test {

// The writer's records: every slot's value and ballot are a function of the
// slot, so the checker knows what each must hold.
Value value_for_slot(std::uint64_t slot);
inline constexpr Ballot kWriterBallot{7, NodeId{1}};
// The writer's snapshots: the image at a slot is a function of the slot, and
// each keeps the entries from slot - kSnapshotTail on.
std::string snapshot_data_for(std::uint64_t slot);
inline constexpr std::uint64_t kSnapshotTail = 100;
// Even seeds: Preallocation::allocate; odd: write_zeros.
LogOptions writer_log_options(std::uint64_t seed);

// The writer process's main loop (never returns unless the log fails).
int run_writer(const std::string& dir, std::uint64_t seed);

struct KillLoopOptions {
  std::string writer_path;  // an executable that runs run_writer for "write <dir> <seed>"
  std::string dir;          // an empty directory
  int kills = 20;
  std::uint64_t seed = 1;
  int run_ms_min = 20, run_ms_max = 250;  // how long each writer lives
};

struct KillLoopResult {
  std::string error;  // empty when every check passed
  std::uint64_t max_durable_slot = 0;
  int kills = 0;
  int truncations = 0;  // recoveries that cut a tail
};

KillLoopResult run_kill_loop(const KillLoopOptions& options);

}  // namespace synod::test
