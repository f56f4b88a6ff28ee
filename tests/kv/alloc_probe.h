// Records the largest single heap allocation made while a probe is alive,
// so tests can show that a length field alone never sizes an allocation,
// and how many allocations were made (the apply path's per-command cost).
// Replaces the global operator new of the test binary (alloc_probe.cc).
#pragma once

#include <cstddef>

namespace synod::kv::test {

class AllocProbe {
 public:
  AllocProbe();
  ~AllocProbe();
  AllocProbe(const AllocProbe&) = delete;
  AllocProbe& operator=(const AllocProbe&) = delete;
  std::size_t largest_bytes() const;
  std::size_t allocations() const;
};

}  // namespace synod::kv::test
