// Counts heap allocations made while a scope is alive (this test binary
// replaces the global operator new). Single-threaded use only.
#pragma once

#include <cstddef>

namespace synod::wire::test {

class AllocationScope {
 public:
  AllocationScope();
  ~AllocationScope();
  AllocationScope(const AllocationScope&) = delete;
  AllocationScope& operator=(const AllocationScope&) = delete;

  std::size_t total_bytes() const;    // every allocation, added up
  std::size_t largest_bytes() const;  // the largest single allocation
  std::size_t count() const;          // how many allocations
};

}  // namespace synod::wire::test
