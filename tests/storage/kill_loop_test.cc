// The kill -9 loop on the real file system (short version; the long one is
// `synod-log-crash-writer loop --kills 1000`).
#include "kill_loop.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>

TEST_CASE(
    "a writer killed with SIGKILL at random points never loses a record it reported durable") {
  const char* writer = std::getenv("SYNOD_CRASH_WRITER");
  if (!writer) {
    WARN_MESSAGE(false, "SYNOD_CRASH_WRITER is not set (run through meson test): skipped");
    return;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp ? tmp : "/tmp") + "/synod-kill-XXXXXX";
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  synod::test::KillLoopOptions o;
  o.writer_path = writer;
  o.dir = tmpl;
  o.kills = 20;
  synod::test::KillLoopResult r = synod::test::run_kill_loop(o);
  INFO(r.error);
  CHECK(r.error.empty());
  CHECK(r.kills == 20);
  CHECK(r.max_durable_slot > 0);
  MESSAGE(r.kills << " kills, " << r.truncations << " tail cuts, last durable slot "
                  << r.max_durable_slot);
  std::filesystem::remove_all(tmpl);
}
