// synod-kv-info-bench: what INFO's key-space fields and a snapshot cost as
// the key space grows. INFO reads the digest kept as commands apply (O(1));
// the full recomputation and the snapshot image are O(keys) and shown for
// comparison (the server takes snapshot images in a forked child).
//
//   build/bench/synod-kv-info-bench [KEYS] [VALUE_BYTES]   (default 1000000 256)
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kv_command.h"
#include "kv_store.h"

using namespace synod::kv;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t keys = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  std::size_t value_bytes = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
  KvStore store;
  auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < keys; ++i) {
    std::string key = "key:";
    key.append(std::to_string(i));
    store.execute(Request{Op::set, {std::move(key), std::string(value_bytes, 'x')}});
  }
  double load_ms = ms_since(t0);
  constexpr int kInfoReads = 1000;
  t0 = std::chrono::steady_clock::now();
  std::uint64_t sink = 0;
  // Through a volatile pointer, so the reads are not hoisted out of the loop.
  KvStore* volatile reader = &store;
  for (int i = 0; i < kInfoReads; ++i) sink += reader->digest() + reader->key_count();
  double info_us = ms_since(t0) * 1000.0 / kInfoReads;
  t0 = std::chrono::steady_clock::now();
  std::uint64_t full = store.recompute_digest();
  double full_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  std::size_t image = store.snapshot().size();
  double snap_ms = ms_since(t0);
  fmt::print("keys {}, values {} bytes: {:.0f} SETs/s applied ({:.0f} ms)\n", keys, value_bytes,
             keys / (load_ms / 1000.0), load_ms);
  fmt::print("  INFO keyspace (maintained digest, key count): {:.1f} ns per read\n",
             info_us * 1000);
  fmt::print("  full digest recomputation: {:.1f} ms ({})\n", full_ms,
             full == store.digest() ? "equal to the maintained one" : "DIFFERS");
  fmt::print("  snapshot image: {:.1f} ms, {} bytes (taken in a forked child by the server)\n",
             snap_ms, image);
  return full == store.digest() && sink != 0 ? 0 : 1;
}
