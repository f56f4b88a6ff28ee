// ThreadedSnapshot: the image serialised on a worker arrives whole on the
// loop, as the store was at start() whatever the loop applies meanwhile; a
// second start is refused and stop() abandons, never hands over an image.
#include "threaded_snapshot.h"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>

#include "kv_command.h"

using namespace synod::kv;

namespace {

bool run_until(uv_loop_t* loop, const std::optional<std::string>& got) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!got && std::chrono::steady_clock::now() < end) uv_run(loop, UV_RUN_ONCE);
  return got.has_value();
}

void set(KvStore& s, std::string key, std::string value) {
  s.execute(Request{Op::set, {std::move(key), std::move(value)}, {}});
}

KvStore filled(int keys) {
  KvStore s;
  for (int n = 0; n < keys; ++n)
    set(s, std::string("key:").append(std::to_string(n)), std::string(100, 'a'));
  return s;
}

}  // namespace

TEST_CASE("a threaded snapshot hands over the image of start time; writes meanwhile copy items") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  KvStore store = filled(20000);
  std::string at_start = store.snapshot();
  std::optional<std::string> got;
  {
    ThreadedSnapshot snap(&loop, store);
    REQUIRE(snap.start([&](std::string image) { got = std::move(image); }));
    CHECK(snap.running());
    CHECK(store.frozen());
    CHECK_FALSE(snap.start([](std::string) { FAIL("a second snapshot ran"); }));
    // The loop goes on applying while the worker serialises.
    for (int n = 0; n < 20000; n += 7)
      set(store, std::string("key:").append(std::to_string(n)), std::string(100, 'b'));
    set(store, "new", "x");
    REQUIRE(run_until(&loop, got));
    CHECK(*got == at_start);
    CHECK_FALSE(snap.running());
    CHECK_FALSE(store.frozen());  // thawed before done was called
    CHECK(store.snapshot() != at_start);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("stop() abandons a threaded snapshot: done is never called, the store is thawed") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  KvStore store = filled(20000);
  bool called = false;
  {
    ThreadedSnapshot snap(&loop, store);
    REQUIRE(snap.start([&](std::string) { called = true; }));
    snap.stop();
    CHECK_FALSE(snap.running());
    // Frozen until the worker (if it began) is done with the items.
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_FALSE(store.frozen());
    // And it can start again.
    std::optional<std::string> got;
    REQUIRE(snap.start([&](std::string image) { got = std::move(image); }));
    REQUIRE(run_until(&loop, got));
    CHECK(*got == store.snapshot());
  }
  CHECK_FALSE(called);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
