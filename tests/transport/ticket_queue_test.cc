// TicketQueue (transports/uv/ticket_queue.h): the proposers' callbacks by
// ticket, in the order outcomes usually come and in any other.
#include "ticket_queue.h"

#include <doctest/doctest.h>

#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "applied_queue.h"

using synod::detail::TicketQueue;

TEST_CASE("callbacks are taken by their ticket, in order or not, once each") {
  TicketQueue<std::function<int()>> q;
  for (int t = 1; t <= 5; ++t) q.add(static_cast<std::uint64_t>(t) * 2, [t] { return t; });
  CHECK(q.size() == 5);
  CHECK((*q.take(2))() == 1);  // the front
  CHECK((*q.take(8))() == 4);  // out of order
  CHECK_FALSE(q.take(8));      // already taken
  CHECK_FALSE(q.take(3));      // never added (a read's ticket, say)
  CHECK_FALSE(q.take(100));    // past the end
  CHECK((*q.take(4))() == 2);
  CHECK((*q.take(6))() == 3);  // the hole of 8 behind it goes too
  CHECK(q.held() == 1);
  CHECK((*q.take(10))() == 5);
  CHECK(q.size() == 0);
  CHECK(q.held() == 0);
}

TEST_CASE("a ticket added out of order is put in its place") {
  TicketQueue<int> q;
  q.add(5, 50);
  q.add(9, 90);
  q.add(7, 70);
  q.add(9, 91);  // the same ticket again replaces it
  CHECK(q.size() == 3);
  std::vector<std::uint64_t> order;
  q.drain([&](std::uint64_t t, int v) {
    order.push_back(t);
    CHECK(v == static_cast<int>(t * 10 + (t == 9 ? 1 : 0)));
  });
  CHECK(order == std::vector<std::uint64_t>{5, 7, 9});
  CHECK(q.size() == 0);
}

TEST_CASE("an old callback never answered does not keep the holes behind it") {
  TicketQueue<int> q;
  q.add(1, 1);  // stays waiting
  for (std::uint64_t t = 2; t < 100000; ++t) {
    q.add(t, 0);
    REQUIRE(q.take(t));
  }
  CHECK(q.size() == 1);
  CHECK(q.held() <= 2 * q.size() + 65);
  CHECK(q.take(1) == 1);
  CHECK(q.held() == 0);
}

TEST_CASE("random order of answers: each callback once, the rest still found") {
  std::mt19937_64 rng(7);
  TicketQueue<std::uint64_t> q;
  std::set<std::uint64_t> live;
  std::uint64_t next = 1;
  for (int step = 0; step < 200000; ++step) {
    if (live.size() < 50 || rng() % 2 == 0) {
      next += 1 + rng() % 3;  // gaps, as reads take tickets too
      q.add(next, next);
      live.insert(next);
    } else {
      // Mostly the oldest, sometimes any.
      auto it = live.begin();
      if (rng() % 4 == 0) std::advance(it, static_cast<long>(rng() % live.size()));
      std::optional<std::uint64_t> got = q.take(*it);
      REQUIRE(got);
      CHECK(*got == *it);
      live.erase(it);
    }
    REQUIRE(q.size() == live.size());
    REQUIRE(q.held() <= 2 * live.size() + 65 + live.size());
  }
  std::size_t drained = 0;
  q.drain([&](std::uint64_t t, std::uint64_t v) {
    CHECK(t == v);
    CHECK(live.count(t) == 1);
    ++drained;
  });
  CHECK(drained == live.size());
}

TEST_CASE("AppliedQueue: served by index as it is applied, equal indexes in the order added") {
  synod::detail::AppliedQueue<int> q;
  q.add(5, 1);
  q.add(5, 2);
  q.add(9, 3);
  q.add(7, 4);  // below the last: put in its place
  q.add(5, 5);  // equal to the first ones: after them
  int got = 0;
  std::vector<int> served;
  CHECK_FALSE(q.take_ready(4, &got));
  while (q.take_ready(7, &got)) served.push_back(got);
  CHECK(served == std::vector<int>{1, 2, 5, 4});
  CHECK(q.size() == 1);
  std::vector<std::uint64_t> left;
  q.drain([&](std::uint64_t index, int v) {
    left.push_back(index);
    CHECK(v == 3);
  });
  CHECK(left == std::vector<std::uint64_t>{9});
  CHECK(q.size() == 0);
}
