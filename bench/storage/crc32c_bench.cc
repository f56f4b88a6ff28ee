// CRC32C throughput by buffer size (docs/benchmarks.md, "The log writer
// (sixth round)"): the log's crc32c_extend (three hardware streams where
// the buffer allows), one hardware stream as before, and the portable
// slicing-by-8 path. Prints ns per KiB and GB/s, best of 5 runs each.
//
//   synod-crc32c-bench [--seconds-per-size S]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace {

using synod::storage::crc32c_extend;
using synod::storage::crc32c_extend_portable;

#if defined(__x86_64__)
// The hardware loop before the three streams: one crc32 after another.
__attribute__((target("sse4.2"))) std::uint32_t one_stream(std::uint32_t crc,
                                                           std::span<const std::byte> d) {
  std::uint64_t c = ~crc;
  const std::byte* p = d.data();
  std::size_t n = d.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n--) c32 = _mm_crc32_u8(c32, std::uint8_t(*p++));
  return ~c32;
}
#endif

double ns_per_kib(const std::function<std::uint32_t(std::uint32_t, std::span<const std::byte>)>& f,
                  std::span<const std::byte> buf, double seconds, std::uint32_t* sink) {
  double best = 1e30;
  for (int run = 0; run < 5; ++run) {
    std::size_t bytes = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + std::chrono::duration<double>(seconds / 5);
    std::chrono::steady_clock::time_point t1;
    do {
      for (int i = 0; i < 16; ++i) {
        *sink = f(*sink, buf);
        bytes += buf.size();
      }
      t1 = std::chrono::steady_clock::now();
    } while (t1 < deadline);
    double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
    best = std::min(best, ns * 1024.0 / double(bytes));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds-per-size") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--seconds-per-size S]\n", argv[0]);
      return 2;
    }
  }
  std::printf("hardware CRC32C: %s\n", synod::storage::crc32c_hardware() ? "yes" : "no");
  std::printf("%9s  %22s  %22s  %22s\n", "bytes", "log (ns/KiB, GB/s)", "one stream", "portable");
  std::vector<std::byte> buf(1u << 20);
  std::mt19937_64 rng(1);
  for (auto& b : buf) b = std::byte(rng());
  std::uint32_t sink = 0;
  for (std::size_t size : {44u, 330u, 1024u, 4096u, 16384u, 76000u, 1u << 20}) {
    std::span<const std::byte> s(buf.data(), size);
    double log = ns_per_kib(crc32c_extend, s, seconds, &sink);
#if defined(__x86_64__)
    double one = synod::storage::crc32c_hardware() ? ns_per_kib(one_stream, s, seconds, &sink) : 0;
#else
    double one = 0;
#endif
    double portable = ns_per_kib(crc32c_extend_portable, s, seconds, &sink);
    auto gbs = [](double ns) { return ns > 0 ? 1024.0 / ns : 0.0; };
    std::printf("%9zu  %12.1f %8.2f  %12.1f %8.2f  %12.1f %8.2f\n", size, log, gbs(log), one,
                gbs(one), portable, gbs(portable));
  }
  std::printf("(checksum sink %08x)\n", sink);
  return 0;
}
