// The seeded draws a scenario is made of (splitmix64): the same seed draws the
// same scenario on every machine.
#pragma once

#include <cstdint>

namespace synod::sim {

struct Draw {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  double unit() { return (next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
};

}  // namespace synod::sim
