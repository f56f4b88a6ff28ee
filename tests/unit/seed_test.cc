// startup_seed (synod/seed.h): the seed every host draws for a start.
#include "synod/seed.h"

#include <doctest/doctest.h>

#include <set>

#include "synod/config.h"

using namespace synod;

TEST_CASE("startup_seed differs from call to call and from node to node") {
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 100; ++i) {
    seen.insert(startup_seed(NodeId{1}));
    seen.insert(startup_seed(NodeId{2}));
  }
  CHECK(seen.size() == 200);
  // Not the default seed, which UvHost would take as unset (1 in 2^64).
  CHECK(seen.count(Config{}.seed) == 0);
}
