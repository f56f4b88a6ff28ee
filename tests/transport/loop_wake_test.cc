// LoopWake (transports/uv/loop_wake.h): another thread wakes the loop, the
// callback runs on the loop and sees what the waker stored before waking;
// wakes before the loop runs make one call; close() frees the handle.
#include "loop_wake.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "uv_test_cluster.h"

using namespace synod;

namespace {

// The wake's handle keeps no loop alive (as an async handle): a loop with
// nothing else would not even poll. This timer stands for the host's others.
struct KeepAlive {
  explicit KeepAlive(uv_loop_t* loop) {
    uv_timer_init(loop, &timer);
    uv_timer_start(
        &timer, [](uv_timer_t*) {}, 1000, 1000);
  }
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); }
  uv_timer_t timer{};
};

}  // namespace

TEST_CASE("LoopWake: wakes from another thread reach the loop with what was stored first") {
  uv_loop_t loop{};
  REQUIRE(uv_loop_init(&loop) == 0);
  KeepAlive alive(&loop);
  std::atomic<int> stored{0};
  int calls = 0, seen = 0;
  const std::thread::id loop_thread = std::this_thread::get_id();
  auto* wake = new detail::LoopWake;
  REQUIRE(wake->start(&loop, [&] {
    CHECK(std::this_thread::get_id() == loop_thread);
    ++calls;
    seen = stored.load();
  }));
  constexpr int kWakes = 2000;
  std::thread waker([&] {
    for (int i = 1; i <= kWakes; ++i) {
      stored.store(i);
      wake->wake();
    }
  });
  // The handle is unreferenced: the loop runs while the test waits for it.
  CHECK(test::run_until(
      &loop, [&] { return seen == kWakes; }, 10000));
  waker.join();
  CHECK(calls >= 1);
  CHECK(calls <= kWakes);
  wake->close();
  alive.close();
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);  // the poll handle was closed and freed
}

TEST_CASE("LoopWake: wakes made before the loop runs make one call") {
  uv_loop_t loop{};
  REQUIRE(uv_loop_init(&loop) == 0);
  KeepAlive alive(&loop);
  int calls = 0;
  auto* wake = new detail::LoopWake;
  REQUIRE(wake->start(&loop, [&] { ++calls; }));
  for (int i = 0; i < 5; ++i) wake->wake();
  CHECK(test::run_until(
      &loop, [&] { return calls > 0; }, 5000));
  for (int i = 0; i < 3; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(calls == 1);
  wake->wake();  // read and cleared: the next wake writes again
  CHECK(test::run_until(
      &loop, [&] { return calls == 2; }, 5000));
  wake->close();
  alive.close();
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
