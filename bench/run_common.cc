#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <system_error>

#include "prefault.h"
#include "run.h"
#include "synod/log_storage.h"
#include "synod/memory_storage.h"

namespace synod::bench {

Config replica_config(const BenchOptions& o, NodeId id) {
  Config c;
  c.id = id;
  c.group = GroupId{1};
  for (std::uint64_t v = 1; v <= o.replicas; ++v) c.voters.push_back(NodeId{v});
  c.election_ticks = id.value == 1 ? o.election_ticks : 4 * o.election_ticks;
  c.heartbeat_ticks = 1;
  c.max_inflight = o.inflight_max;
  c.batch_count_max = o.batch_max;
  c.batch_bytes_max = static_cast<std::uint32_t>(std::max<std::uint64_t>(1u << 20, o.value_bytes));
  c.message_bytes_max = std::max<std::uint32_t>(4u << 20, 4 * c.batch_bytes_max);
  std::uint64_t in_flight_bytes = static_cast<std::uint64_t>(o.clients) * o.outstanding *
                                  std::max<std::uint64_t>(o.value_bytes, 1);
  c.pending_bytes_max = std::max<std::uint64_t>(64u << 20, 2 * in_flight_bytes);
  c.compaction_tail = o.compaction_tail;
  c.seed = 0x5eed0000 + id.value;
  c.join_existing = false;  // every run starts a brand-new cluster
  return c;
}

wire::WireLimits wire_limits(const BenchOptions& o) {
  Config c = replica_config(o, NodeId{1});
  wire::WireLimits l;
  l.command_bytes_max = c.batch_bytes_max;
  l.frame_bytes_max = std::max<std::uint32_t>(l.frame_bytes_max, c.message_bytes_max + (1u << 20));
  l.entries_max = std::max<std::uint32_t>(l.entries_max, c.message_bytes_max / 64);
  return l;
}

// Large blocks (a transport's buffers, a log chunk) are mmapped by malloc and
// counted apart from the heap proper (hblkhd): both are memory in use.
std::uint64_t heap_in_use() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

HeapFree heap_free() {
  struct mallinfo2 mi = mallinfo2();
  return {mi.ordblks, mi.fordblks};
}

std::uint64_t prefault_bytes(const BenchOptions& o) {
  if (o.prefault_mb >= 0) return static_cast<std::uint64_t>(o.prefault_mb) << 20;
  // Auto: enough for a fast run of this shape on a small machine, so a
  // faster one runs out (and slows down) rather than a slower one wasting
  // memory. Rates: what this code reached on 2 cores, with headroom.
  bool memory = o.transport == TransportKind::memory;
  bool batched = o.batch_max > 1;
  double rate = memory ? (batched ? 5e6 : 1.2e6) : (batched ? 1.5e6 : 5e5);
  double per_request = memory ? 4e5 : 3e4;  // a closed-loop request's best rate
  rate = std::min(rate, per_request * o.clients * o.outstanding);
  auto ops = static_cast<std::uint64_t>(rate * (o.warmup_s + o.duration_s));
  if (o.commands) ops = o.commands + static_cast<std::uint64_t>(rate * o.warmup_s);
  // With compaction the log holds at most the tail and one interval of
  // slots, each of at most a full batch: that much memory is recycled.
  if (o.snapshot_every) {
    std::uint64_t per_slot =
        std::min<std::uint64_t>(o.batch_max, static_cast<std::uint64_t>(o.clients) * o.outstanding);
    ops = std::min(ops, (o.snapshot_every + o.compaction_tail) * per_slot);
  }
  unsigned processes = memory ? 1 : o.replicas;
  return prefault_bytes_for(ops, o.value_bytes) / processes;
}

std::unique_ptr<Storage> open_storage(const BenchOptions& o, const std::string& run_dir, NodeId id,
                                      std::string* why) {
  if (o.storage == StorageKind::memory) return std::make_unique<MemoryStorage>(false);
  std::string dir = fmt::format("{}/node-{}", run_dir, id.value);
  auto opened = LogStorage::open(dir, LogOptions{});
  if (!opened.ok()) {
    *why = fmt::format("cannot open the log in {}: {}", dir, opened.error);
    return nullptr;
  }
  return std::move(opened.storage);
}

std::string make_run_dir(const BenchOptions& o, std::string* why) {
  static std::atomic<unsigned> runs{0};
  std::string dir = fmt::format("{}/synod-bench-{}-{}", o.data_dir, getpid(), runs++);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *why = fmt::format("cannot create {}: {}", dir, ec.message());
    return {};
  }
  return dir;
}

void remove_run_dir(const BenchOptions& o, const std::string& run_dir) {
  if (run_dir.empty() || o.keep_data) return;
  std::error_code ec;
  std::filesystem::remove_all(run_dir, ec);
}

}  // namespace synod::bench
