#include "alloc_counter.h"

#include <cstdlib>
#include <new>

namespace {

bool g_counting = false;
std::size_t g_total = 0;
std::size_t g_largest = 0;
std::size_t g_count = 0;

void* allocate(std::size_t n, std::size_t align) {
  if (g_counting) {
    g_total += n;
    ++g_count;
    if (n > g_largest) g_largest = n;
  }
  if (n == 0) n = 1;
  void* p = align > alignof(std::max_align_t)
                ? std::aligned_alloc(align, (n + align - 1) / align * align)
                : std::malloc(n);
  return p;
}

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = allocate(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = allocate(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace synod::wire::test {

AllocationScope::AllocationScope() {
  g_total = 0;
  g_largest = 0;
  g_count = 0;
  g_counting = true;
}
AllocationScope::~AllocationScope() { g_counting = false; }
std::size_t AllocationScope::total_bytes() const { return g_total; }
std::size_t AllocationScope::largest_bytes() const { return g_largest; }
std::size_t AllocationScope::count() const { return g_count; }

}  // namespace synod::wire::test
