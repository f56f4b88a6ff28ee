#include "prefault.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace synod::bench {

namespace {

constexpr std::size_t kChunk = 16u << 20;  // below M_MMAP_THRESHOLD's maximum (32 MiB)

std::uint64_t available_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);)
    if (line.rfind("MemAvailable:", 0) == 0) return std::stoull(line.substr(13)) * 1024;
  return 0;
}

}  // namespace

std::uint64_t prefault_bytes_for(std::uint64_t ops, std::uint64_t value_bytes) {
  // A command's heap block (value + header, 16-byte rounded), its std::string
  // in the batch, and a share of per-slot records.
  std::uint64_t per_op = (value_bytes + 1 + 8 + 15) / 16 * 16 + 40;
  if (value_bytes < 16) per_op = 40;  // short strings live inside std::string
  return std::min(ops * per_op, available_bytes() / 2);
}

void keep_heap() {
  // Keep heap blocks out of mmap (which would return them to the kernel on
  // free) and never trim the top of the heap.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(2 * kChunk));
  mallopt(M_TRIM_THRESHOLD, -1);  // -1: never (an int cannot hold a larger threshold)
}

void prefault_heap(std::uint64_t bytes) {
  keep_heap();
  std::vector<void*> chunks;
  chunks.reserve(bytes / kChunk + 1);
  const long page = sysconf(_SC_PAGESIZE);
  for (std::uint64_t done = 0; done < bytes; done += kChunk) {
    auto* p = static_cast<volatile char*>(std::malloc(kChunk));
    if (!p) break;
    for (std::size_t i = 0; i < kChunk; i += static_cast<std::size_t>(page)) p[i] = 0;
    chunks.push_back(const_cast<char*>(p));
  }
  for (auto it = chunks.rbegin(); it != chunks.rend(); ++it) std::free(*it);
}

}  // namespace synod::bench
