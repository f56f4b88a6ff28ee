// ForkedSnapshot: the image made in a forked child arrives whole on the
// loop; a child that fails, a second start, and stop() are reported or
// refused, never taken for an image.
#include "forked_snapshot.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>

using namespace synod::kv;

namespace {

struct Outcome {
  bool ok = false;
  std::string image, why;
};

bool run_until(uv_loop_t* loop, const std::optional<Outcome>& got) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!got && std::chrono::steady_clock::now() < end) uv_run(loop, UV_RUN_ONCE);
  return got.has_value();
}

ForkedSnapshot::Done record(std::optional<Outcome>* got) {
  return [got](bool ok, std::string image, std::string why) {
    *got = Outcome{ok, std::move(image), std::move(why)};
  };
}

}  // namespace

TEST_CASE("a forked snapshot hands the child's image to the loop, byte for byte") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string state;
  for (int i = 0; i < 300000; ++i) state.append(std::to_string(i)).push_back(',');  // ~2 MB
  std::optional<Outcome> got;
  std::string why;
  {
    ForkedSnapshot snap(&loop);
    REQUIRE(snap.start([&] { return state; }, record(&got), &why));
    CHECK(snap.running());
    // Changed after the fork: the child's image is of the state at start().
    std::string at_start = state;
    state = "changed";
    std::string second_why;
    CHECK_FALSE(snap.start([] { return std::string(); }, record(&got), &second_why));
    CHECK(second_why == "a snapshot is already being taken");
    REQUIRE(run_until(&loop, got));
    CHECK(got->ok);
    CHECK(got->image == at_start);
    CHECK_FALSE(snap.running());
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a snapshot child that fails is reported, with no image") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::optional<Outcome> got;
  std::string why;
  {
    ForkedSnapshot snap(&loop);
    REQUIRE(snap.start([]() -> std::string { _exit(3); }, record(&got), &why));
    REQUIRE(run_until(&loop, got));
    CHECK_FALSE(got->ok);
    CHECK(got->image.empty());
    CHECK(got->why.find("failed") != std::string::npos);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("stop() abandons a running snapshot: the child is gone and done is never called") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::optional<Outcome> got;
  std::string why;
  ForkedSnapshot snap(&loop);
  REQUIRE(snap.start(
      []() -> std::string {
        sleep(30);
        return "late";
      },
      record(&got), &why));
  snap.stop();
  CHECK_FALSE(snap.running());
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_FALSE(got.has_value());
  CHECK(uv_loop_close(&loop) == 0);
}
