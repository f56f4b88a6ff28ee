#include "synod/memory_storage.h"

#include <doctest/doctest.h>

using namespace synod;

TEST_CASE("memory storage loses unsynced writes in a crash") {
  MemoryStorage s;
  CHECK(s.empty());
  HardState hs{Ballot{1, NodeId{1}}, Slot{0}, true};
  Entry e1{Slot{1}, hs.promised, Value::of_commands({"a"})};
  REQUIRE(s.save(&hs, std::span<const Entry>(&e1, 1)) == Status::ok);
  REQUIRE(s.sync() == Status::ok);
  Entry e2{Slot{2}, hs.promised, Value::of_commands({"b"})};
  HardState hs2{Ballot{2, NodeId{2}}, Slot{1}, true};
  REQUIRE(s.save(&hs2, std::span<const Entry>(&e2, 1)) == Status::ok);
  CHECK(s.entries().size() == 2);
  s.crash();
  CHECK(s.entries().size() == 1);
  CHECK(s.hard_state() == hs);
}

TEST_CASE("a torn crash keeps a prefix of the unsynced writes") {
  MemoryStorage s;
  HardState hs{Ballot{1, NodeId{1}}, Slot{0}, true};
  Entry e[2] = {{Slot{1}, hs.promised, Value::noop()}, {Slot{2}, hs.promised, Value::noop()}};
  REQUIRE(s.save(&hs, e) == Status::ok);
  s.crash(1);
  CHECK(s.entries().size() == 1);
  CHECK(s.hard_state() == HardState{});
}
