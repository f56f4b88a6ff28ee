// synod-kv: a replicated key-value server speaking the Redis protocol.
// Every write and read is ordered through Multi-Paxos; any member answers
// PING, INFO and the handshake commands of redis-cli and redis-benchmark.
#include <fmt/format.h>
#include <malloc.h>
#include <uv.h>

#include <csignal>
#include <memory>

#include "kv_command_codec.h"
#include "kv_node.h"
#include "server_options.h"
#include "shard_node.h"

namespace synod::kv {

// The process's node: one group or many.
class Node {
 public:
  Node(uv_loop_t* loop, const ServerOptions& o) {
    if (o.shards > 1)
      sharded_ = std::make_unique<ShardNode>(loop, o);
    else
      single_ = std::make_unique<KvNode>(loop, o);
  }
  bool start(std::string* why) { return single_ ? single_->start(why) : sharded_->start(why); }
  void stop() { single_ ? single_->stop() : sharded_->stop(); }
  bool failed() const { return single_ ? single_->failed() : sharded_->failed(); }

 private:
  std::unique_ptr<KvNode> single_;
  std::unique_ptr<ShardNode> sharded_;
};

}  // namespace synod::kv

// jemalloc's options, read at its first allocation when synod-kv is linked
// with it (examples/meson.build; MALLOC_CONF in the environment still
// overrides). The heap is kept in transparent huge pages: the in-memory log
// grows by about 512 B per SET until compaction, and in 4 KiB pages that
// was a page fault every eight SETs on every replica, a trap this VM makes
// dear; in 2 MiB pages, minor faults per SET fell from 0.14 to 0.01 and a
// follower's CPU per SET by a fifth (docs/benchmarks.md, "synod-kv").
//
// Freed memory is kept for reuse, never handed back (dirty_decay_ms:-1):
// compaction frees the log in bursts of tens of MiB and a snapshot frees
// the items it copied, and with jemalloc's default 10 s decay part of that
// was purged with madvise before it was reused, which split the huge pages
// under the key table and the log. After ~1 M SETs only a third of a
// follower's heap was still in huge pages, and its loop spent 3.6 us of
// user time per SET (TLB misses on every key) against 0.6 with the memory
// kept (docs/benchmarks.md, "Follower CPU per SET (fifth round)"). The
// price: the resident size stays at its peak (the log is bounded by
// --compaction-tail-bytes and --snapshot-bytes); MALLOC_CONF=
// dirty_decay_ms:60000 returns idle memory after a minute instead.
extern "C" {
const char* malloc_conf = "thp:always,metadata_thp:always,dirty_decay_ms:-1";
}

int main(int argc, char** argv) {
  std::string why;
  auto options = synod::kv::parse_server_options(argc, argv, &why);
  if (!options && why == "usage") {
    fmt::print("{}", synod::kv::server_usage());
    return 0;
  }
  if (!options) {
    fmt::print(stderr, "synod-kv: {}\n{}", why, synod::kv::server_usage());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  // These two tune glibc's malloc, used when synod-kv is built without
  // jemalloc (examples/meson.build); jemalloc ignores them.
  // Replies to GETs of large values are fresh buffers of up to 1 MiB each;
  // glibc would map and unmap each one, and the page faults of refilling
  // them stalled the loop for a second under a pipeline of such GETs (past
  // an election timeout). From the heap they are reused instead.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  // Nor does the heap shrink after every slot's batch is freed: glibc's
  // default (128 KiB) handed the top of the heap back to the kernel and
  // faulted it in again at every round trip (brk and page faults were about
  // a quarter of a leader's CPU in synod-bench, docs/benchmarks.md). Up to
  // 64 MiB of free heap is kept for reuse.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  uv_loop_t loop;
  uv_loop_init(&loop);
  // --shards 1 keeps the single group (UvHost, one LogStorage) exactly as
  // before; more shards run a GroupHost (shard_node.h).
  synod::kv::Node node(&loop, *options);
  if (!node.start(&why)) {
    fmt::print(stderr, "synod-kv: {}\n", why);
    node.stop();
    uv_run(&loop, UV_RUN_DEFAULT);
    return 1;
  }
  // SIGINT/SIGTERM: stop cleanly; the durable log is already synced.
  uv_signal_t sigint, sigterm;
  for (auto [sig, num] : {std::pair{&sigint, SIGINT}, std::pair{&sigterm, SIGTERM}}) {
    uv_signal_init(&loop, sig);
    sig->data = &node;
    uv_signal_start_oneshot(
        sig,
        [](uv_signal_t* s, int) {
          static_cast<synod::kv::Node*>(s->data)->stop();
          uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
        },
        num);
    uv_unref(reinterpret_cast<uv_handle_t*>(sig));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = node.failed() ? 1 : 0;
  uv_walk(
      &loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}
