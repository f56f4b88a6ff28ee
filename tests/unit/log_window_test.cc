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

TEST_CASE("compaction frees the records below the new start, across chunks") {
  LogWindow log;
  Value v = Value::of_commands({"v"});
  for (std::uint64_t s = 1; s <= 3000; ++s) log.accept(Slot{s}, Ballot{1, NodeId{1}}, v);
  log.advance_commit(Slot{2500});
  log.drop_below(Slot{2049});
  CHECK(log.first() == Slot{2049});
  CHECK(log.find(Slot{2048}) == nullptr);
  CHECK(log.find(Slot{1}) == nullptr);
  CHECK(log.find(Slot{2049}) != nullptr);
  CHECK(log.find(Slot{3000}) != nullptr);
  CHECK(log.last() == Slot{3000});
  Slot next;
  auto got = log.collect(Slot{1}, Slot{2050}, 1 << 20, &next);
  REQUIRE(got.size() == 2);
  CHECK(got[0].slot == Slot{2049});
  // Only the one holding the values remains: the batch is not held by the
  // records dropped.
  log.drop_below(Slot{2049});  // no-op
  log.accept(Slot{3100}, Ballot{1, NodeId{1}}, v);
  CHECK(log.find(Slot{3100}) != nullptr);
  CHECK(log.find(Slot{3050}) == nullptr);
}

TEST_CASE("installing a snapshot marks its prefix chosen and keeps records above it") {
  LogWindow log;
  Value v = Value::of_commands({"v"});
  log.accept(Slot{2}, Ballot{1, NodeId{1}}, v);
  log.accept(Slot{5000}, Ballot{2, NodeId{2}}, v);
  log.install(Slot{4000});
  CHECK(log.commit() == Slot{4000});
  CHECK(log.first() == Slot{4001});
  CHECK(log.find(Slot{2}) == nullptr);
  CHECK(log.find(Slot{5000}) != nullptr);
  log.accept(Slot{4001}, Ballot{2, NodeId{2}}, v);
  log.advance_commit(Slot{4001});
  CHECK(log.commit() == Slot{4001});
  // A snapshot past every record leaves an empty window after it.
  LogWindow empty;
  empty.install(Slot{10});
  CHECK(empty.last() == Slot{10});
  CHECK(empty.find(Slot{11}) == nullptr);
  empty.accept(Slot{12}, Ballot{1, NodeId{1}}, v);
  CHECK(empty.find(Slot{12}) != nullptr);
}

TEST_CASE("a window started at a snapshot takes entries from its start") {
  LogWindow log;
  log.start_at(Slot{1500});
  CHECK(log.commit() == Slot{1499});
  log.accept(Slot{1500}, Ballot{1, NodeId{1}}, Value::noop());
  log.advance_commit(Slot{1500});
  CHECK(log.commit() == Slot{1500});
}
