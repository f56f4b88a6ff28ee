// Three voters (ids 1..3) of the test-cluster harness (tests/harness) that
// deliver to each other at once, with `deliver` to drop or inspect messages,
// for the refusal and member-capacity tests.
#pragma once

#include "test_cluster.h"

namespace synod::test {

struct SmallCluster : TestCluster {
  SmallCluster()
      : TestCluster(3, [](Config& c) {
          c.max_inflight = 8;
          c.alpha = 4;
        }) {}
};

}  // namespace synod::test
