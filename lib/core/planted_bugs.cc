#include "planted_bugs.h"

#include <atomic>

namespace synod::testing {

namespace {
// Atomic: hosts on other threads construct replicas too (the transport tests);
// none of them plants anything, but all of them read it.
std::atomic<PlantedBug> planted{PlantedBug::none};
}  // namespace

void plant_bug(PlantedBug bug) { planted.store(bug, std::memory_order_relaxed); }
PlantedBug planted_bug() { return planted.load(std::memory_order_relaxed); }

}  // namespace synod::testing
