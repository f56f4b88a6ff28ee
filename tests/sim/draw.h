// The seeded draws a scenario is made of (splitmix64): the same seed draws the
// same scenario on every machine.
#pragma once

#include <cstdint>

#include "core/rng.h"  // the splitmix64

namespace synod::sim {

struct Draw {
  std::uint64_t s;
  std::uint64_t next() { return detail::splitmix64(s); }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  double unit() { return (next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
};

}  // namespace synod::sim
