// LoopWake: another thread wakes a libuv loop, which then runs a callback;
// what uv_async_t does, without its spin.
//
// Why not uv_async_t: libuv (1.44) marks the handle busy, writes its
// eventfd, then marks it done; the loop, woken by that write, spins and then
// calls sched_yield() until the sender has marked it done. The write wakes
// the loop thread, which on a machine with few cores often preempts the
// very thread that is to mark it done: the log writer. On 2 cores under
// synod-kv's not pipelined load, a follower's loop yielded about once per
// fdatasync, each yield 0.1 ms on average and up to 11 ms, all of it on the
// path of an acknowledgement (docs/benchmarks.md, "synod-kv", fifth round).
// Here the sender only writes the eventfd; a flag keeps a burst of wakes to
// one write until the loop has read it.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>

namespace synod::detail {

class LoopWake {
 public:
  using Fn = std::function<void()>;

  LoopWake() = default;
  LoopWake(const LoopWake&) = delete;
  LoopWake& operator=(const LoopWake&) = delete;
  // close() must have run (the loop then frees the handle).
  ~LoopWake() = default;

  // On the loop thread: on_wake runs on it after each wake() (several
  // wakes before it runs make one call). False if no eventfd could be had
  // (errno set).
  bool start(uv_loop_t* loop, Fn on_wake);
  // Any thread; never blocks. What the caller stored before the call is
  // visible to on_wake.
  void wake();
  // On the loop thread, once no thread calls wake() any more: stops the
  // callbacks; the handle and the descriptor go with the loop's next
  // iteration, and with them this object (allocated by new).
  void close();

 private:
  void on_readable();

  uv_poll_t poll_{};
  int fd_ = -1;
  Fn on_wake_;
  // Set by wake() when it writes; cleared by the loop before on_wake runs,
  // so a wake after the clear writes again.
  std::atomic<bool> pending_{false};
};

}  // namespace synod::detail
