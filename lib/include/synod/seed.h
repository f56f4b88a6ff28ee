// A replica's start-up seed (Config::seed), drawn in one place for every
// host: rejoin nonces and follower read ids must not repeat across restarts,
// and replicas of a cluster should not share one sequence. A host calls it
// once per start of a replica; tests, the simulator and the benchmarks set
// Config::seed themselves instead, to replay a run.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "synod/types.h"

namespace synod {

inline std::uint64_t startup_seed(NodeId id) {
  std::uint64_t s =
      static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  s ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())
       << 17;
  // The OS's entropy as well, where there is any: two restarts within one
  // clock tick (or with a clock set back) still differ.
  try {
    std::random_device device;
    s ^= (std::uint64_t{device()} << 32) ^ device();
  } catch (const std::exception&) {
    // No entropy source: the clocks alone.
  }
  s ^= id.value * 0x9e3779b97f4a7c15ULL;
  // splitmix64's finaliser spreads the bits over the whole word.
  s = (s ^ (s >> 30)) * 0xbf58476d1ce4e5b9ULL;
  s = (s ^ (s >> 27)) * 0x94d049bb133111ebULL;
  return s ^ (s >> 31);
}

}  // namespace synod
