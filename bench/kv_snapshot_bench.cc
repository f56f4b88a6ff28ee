// synod-kv-snapshot-bench: the snapshot worker's cost, without the network,
// the log or the other processes: KvStore::Frozen::image() over a key space
// shaped as redis-benchmark -r KEYS -d VALUE_BYTES -t set leaves a follower
// (keys "key:" and 12 digits, inserted in random order, then overwritten at
// random while earlier snapshots were frozen, so the items lie scattered
// over the heap as copy-on-write left them). Prints the thread CPU time of
// each image in SKVSNAP3 (FNV-1a, the default) and SKVSNAP4 (CRC32C),
// alternated, and the image's checksum so that two builds can be compared
// byte for byte.
//
//   build/bench/synod-kv-snapshot-bench [KEYS] [VALUE_BYTES] [ROUNDS]
//   (default 100000 256 5)
//
// Divide by the SETs between two snapshots (--snapshot-bytes over the log
// bytes of a SET, ~240 000 for 64 MiB and 256-byte values) for the
// worker's CPU per SET.
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "kv_command.h"
#include "kv_command_codec.h"
#include "kv_store.h"
#include "snapshot_order.h"
#include "synod/crc32c.h"

using namespace synod::kv;

namespace {

double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

std::string key_of(std::uint64_t n) { return fmt::format("key:{:012}", n); }

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t keys = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
  std::size_t value_bytes = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
  int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  if (keys == 0 || rounds <= 0) {
    fmt::print(stderr, "usage: synod-kv-snapshot-bench [KEYS] [VALUE_BYTES] [ROUNDS]\n");
    return 2;
  }
  std::mt19937_64 rng(15);
  std::vector<std::uint64_t> order(keys);
  for (std::uint64_t i = 0; i < keys; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  KvStore store;
  for (std::uint64_t n : order)
    store.apply(encode(Request{Op::set, {key_of(n), std::string(value_bytes, 'x')}}));
  // Overwrites while frozen, as between a follower's snapshots: each written
  // item is copied to a fresh allocation.
  for (int pass = 0; pass < 3; ++pass) {
    KvStore::Frozen frozen = store.freeze();
    for (std::uint64_t i = 0; i < keys; ++i) {
      std::string value(value_bytes, static_cast<char>('a' + rng() % 26));
      store.apply(encode(Request{Op::set, {key_of(rng() % keys), std::move(value)}}));
    }
    frozen.items.clear();
    store.thaw();
  }
  fmt::print("{} keys, values of {} bytes: thread CPU ms per image (freeze excluded)\n", keys,
             value_bytes);
  int failures = 0;
  for (int round = 0; round < rounds; ++round) {
    for (unsigned format : {3u, 4u}) {
      KvStore::Frozen frozen = store.freeze();
      frozen.format = format;
      double t0 = thread_cpu_ms();
      std::string image = frozen.image();
      double ms = thread_cpu_ms() - t0;
      // The key order alone, the part that does not depend on the format.
      double t1 = thread_cpu_ms();
      std::size_t sorted = sorted_by_key(frozen.items).size();
      double sort_ms = thread_cpu_ms() - t1;
      frozen.items.clear();
      store.thaw();
      fmt::print(
          "  round {} SKVSNAP{} {:7.2f} ms (the key order alone {:5.2f})  {} bytes, "
          "crc32c {:08x}\n",
          round + 1, format, ms, sort_ms, image.size(), synod::crc32c(image));
      if (sorted != keys) ++failures;
      KvStore check;
      if (round == 0 && (!check.restore(image) || check.digest() != store.digest())) {
        fmt::print(stderr, "the SKVSNAP{} image does not restore to the same digest\n", format);
        ++failures;
      }
    }
  }
  return failures == 0 ? 0 : 1;
}
