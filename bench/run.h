// One benchmark run, in-process (memory transport) or across processes (TCP),
// and what the two share: the replica configuration and the storages.
#pragma once

#include <memory>
#include <string>

#include "load.h"
#include "options.h"
#include "rss_track.h"
#include "synod/config.h"
#include "synod/storage.h"
#include "synod/wire.h"

namespace synod::bench {

struct RunResult {
  bool ok = true;
  std::string error;
  Measured m;
  double cpu_s = 0;                  // every process, during the measured window
  std::uint64_t peak_rss_bytes = 0;  // the largest of the processes
  // Resident bytes at each tenth of the measured window (the largest
  // process; all of them for the memory transport, which is one).
  RssTrack::Samples rss_tenths{};
  unsigned processes = 1;
  // This process's malloc heap over the measured window: bytes newly in use
  // (retained commands: the log and what compaction has not yet dropped).
  std::uint64_t heap_growth_bytes = 0;
  // Snapshots taken (Replica::compact) and restored (rd.restore), every
  // replica of this process, whole run.
  std::uint64_t snapshots = 0;
  std::uint64_t restores = 0;
  // Whether the replicas' state machines agree after the run (memory
  // transport: it sees all of them); empty when not checked.
  std::string states;
  // Pages first touched in the window, every process (minor faults).
  std::uint64_t fault_bytes = 0;
};

// Bytes malloc has handed out in this process, mmapped blocks included
// (mallinfo2).
std::uint64_t heap_in_use();
// Free chunks in malloc's bins and the bytes they hold (mallinfo2 ordblks
// and fordblks): how scattered the free part of the heap is.
struct HeapFree {
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;
};
HeapFree heap_free();

// The Config of replica `id` of the run. The designated leader (node 1) has
// the configured election timeout; the others a longer one, so node 1 wins
// the first election it forces.
Config replica_config(const BenchOptions& o, NodeId id);
wire::WireLimits wire_limits(const BenchOptions& o);

// Heap to pre-fault in each process of the run (prefault.h).
std::uint64_t prefault_bytes(const BenchOptions& o);

// A fresh storage for replica `id`: MemoryStorage, or a LogStorage in
// <run_dir>/node-<id>. Null with *why set on failure.
std::unique_ptr<Storage> open_storage(const BenchOptions& o, const std::string& run_dir, NodeId id,
                                      std::string* why);
// A new directory for this run's logs under --data-dir; empty on failure.
std::string make_run_dir(const BenchOptions& o, std::string* why);
void remove_run_dir(const BenchOptions& o, const std::string& run_dir);

RunResult run_memory(const BenchOptions& o);
RunResult run_tcp(const BenchOptions& o);
// --replica-mode: serve as replica o.node_id until SIGTERM; the exit status.
int run_replica_process(const BenchOptions& o);

}  // namespace synod::bench
