#include "log_window.h"

#include <doctest/doctest.h>

using namespace synod;
using namespace synod::detail;

TEST_CASE("the log window holds holes above the commit index") {
  LogWindow log;
  log.accept(Slot{3}, Ballot{1, NodeId{1}}, Value::noop());
  CHECK(log.find(Slot{1}) == nullptr);
  CHECK(log.find(Slot{3}) != nullptr);
  CHECK(log.last() == Slot{3});
  Slot next;
  auto got = log.collect(Slot{1}, Slot{10}, 1 << 20, &next);
  REQUIRE(got.size() == 1);
  CHECK(got[0].slot == Slot{3});
  CHECK(next == Slot{4});
}

TEST_CASE("a catch-up value keeps the higher accepted ballot") {
  LogWindow log;
  log.accept(Slot{1}, Ballot{5, NodeId{2}}, Value::of_commands({"x"}));
  log.store_chosen(Slot{1}, Ballot{3, NodeId{1}}, Value::of_commands({"y"}));
  CHECK(log.find(Slot{1})->ballot == Ballot{5, NodeId{2}});
  CHECK(log.find(Slot{1})->value == Value::of_commands({"y"}));
}

TEST_CASE("collect stops at the byte bound but returns at least one entry") {
  LogWindow log;
  for (std::uint64_t s = 1; s <= 5; ++s)
    log.accept(Slot{s}, Ballot{1, NodeId{1}}, Value::of_commands({std::string(100, 'a')}));
  Slot next;
  auto got = log.collect(Slot{1}, Slot{5}, 10, &next);
  CHECK(got.size() == 1);
  CHECK(next == Slot{2});
  got = log.collect(Slot{1}, Slot{5}, 400, &next);
  CHECK(got.size() == 2);
  CHECK(next == Slot{3});
}
