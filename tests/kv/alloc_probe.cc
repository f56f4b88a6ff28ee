#include "alloc_probe.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> g_probing{false};
std::atomic<std::size_t> g_largest{0};
std::atomic<std::size_t> g_count{0};

void* allocate(std::size_t n) {
  if (g_probing.load(std::memory_order_relaxed)) {
    g_count.fetch_add(1, std::memory_order_relaxed);
    std::size_t seen = g_largest.load(std::memory_order_relaxed);
    while (n > seen && !g_largest.compare_exchange_weak(seen, n)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace synod::kv::test {

AllocProbe::AllocProbe() {
  g_largest = 0;
  g_count = 0;
  g_probing = true;
}
AllocProbe::~AllocProbe() { g_probing = false; }
std::size_t AllocProbe::largest_bytes() const { return g_largest; }
std::size_t AllocProbe::allocations() const { return g_count; }

}  // namespace synod::kv::test
