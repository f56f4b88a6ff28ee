// A small seeded PRNG (splitmix64): the core has no global randomness, so the
// same Config::seed and inputs give the same behaviour (the simulator relies
// on it).
#pragma once

#include <cstdint>

namespace synod::detail {

// The one splitmix64 of the project (the simulator's draws and the
// linearizability checker's hashes use it too): advances state, returns the
// next output.
constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return splitmix64(state_); }
  // Uniform in [lo, hi). Precondition: lo < hi.
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo); }

 private:
  std::uint64_t state_;
};

}  // namespace synod::detail
