// Takes the key space's snapshot image off the event loop without fork():
// the store is frozen on the loop (KvStore::freeze, a pointer per key), a
// libuv thread-pool worker sorts and serialises the frozen items, and the
// loop gets the image once the store is thawed. Meanwhile the loop goes on
// applying commands; a write to a frozen key copies that key's item
// (KeyTable::freeze).
//
// Why not a forked child, as Redis's BGSAVE and this server did before:
// while the child lives, every page the loop writes is copied by the
// kernel, with a TLB flush on every CPU the process runs on. With 100 000
// keys of 256 bytes that was about every page of the key space at each
// snapshot, and a third of a follower's CPU per SET (docs/benchmarks.md,
// "synod-kv"). Item by item, a write copies 320 bytes, not 4 KiB and a
// flush, and only the keys written during the serialisation are copied.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "kv_store.h"

namespace synod::kv {

class ThreadedSnapshot {
 public:
  // On the loop, with the image of the store as it was at start(); the
  // store is already thawed.
  using Done = std::function<void(std::string image)>;

  ThreadedSnapshot(uv_loop_t* loop, KvStore& store) : loop_(loop), store_(store) {}
  // Precondition: not running, or stopped with the loop run since until
  // the worker finished (the store must outlive the worker).
  ~ThreadedSnapshot() { stop(); }
  ThreadedSnapshot(const ThreadedSnapshot&) = delete;
  ThreadedSnapshot& operator=(const ThreadedSnapshot&) = delete;

  // Freezes the store and queues the serialisation. False (nothing done)
  // when one is already running.
  bool start(Done done);
  bool running() const { return job_ != nullptr; }
  // Abandons a running snapshot: `done` is never called. The store stays
  // frozen until the worker, if it already began, is done with it.
  void stop();

 private:
  struct Job;

  uv_loop_t* loop_;
  KvStore& store_;
  Job* job_ = nullptr;
};

}  // namespace synod::kv
