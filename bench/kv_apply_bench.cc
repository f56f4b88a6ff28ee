// synod-kv-apply-bench: a replica's apply of pipelined SETs over a key space
// no cache holds, with and without KvStore::prefetch (the announcement of
// each committed batch, UvHostOptions::before_apply), alternated. The key
// table's two dependent cache misses per SET (slot, then item) were about a
// quarter of a follower's CPU (docs/benchmarks.md, "Follower CPU per SET
// (fifth round)"); this measures them without the network, the log or the
// other processes. Thread CPU time, so another process's load matters less
// than for wall time (it still shares the caches).
//
//   build/bench/synod-kv-apply-bench [KEYS] [VALUE_BYTES] [BATCH] [ROUNDS] [MODES]
//   (default 100000 256 230 5 both: redis-benchmark -r 100000 -d 256 -P 16
//   -c 50 gives batches of about 230 SETs; MODES `prefetch` runs only the
//   announced batches, as replicas apply them, e.g. under perf record)
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

using namespace synod::kv;

// synod-kv's jemalloc options (examples/kv/main.cc): the heap in huge
// pages, as the server has it. Without them every item is a TLB miss of
// its own, which the server does not pay. Ignored without jemalloc.
extern "C" {
const char* malloc_conf = "thp:always,metadata_thp:always,dirty_decay_ms:-1";
}

namespace {

double thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

// redis-benchmark's keys: "key:" and 12 digits.
std::string key_of(std::uint64_t n) { return fmt::format("key:{:012}", n); }

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t keys = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
  std::size_t value_bytes = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
  std::size_t batch = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 230;
  int rounds = argc > 4 ? std::atoi(argv[4]) : 5;
  std::string modes = argc > 5 ? argv[5] : "both";
  if (keys == 0 || batch == 0 || rounds <= 0 || (modes != "both" && modes != "prefetch")) {
    fmt::print(
        stderr,
        "usage: synod-kv-apply-bench [KEYS] [VALUE_BYTES] [BATCH] [ROUNDS] [both|prefetch]\n");
    return 2;
  }
  KvStore store;
  for (std::uint64_t i = 0; i < keys; ++i)
    store.apply(encode(Request{Op::set, {key_of(i), std::string(value_bytes, 'x')}}));
  // A million SETs of random keys, cut into batches as the log holds them.
  std::mt19937_64 rng(15);
  constexpr std::size_t kSets = 1'000'000;
  std::vector<std::vector<std::string>> batches;
  for (std::size_t done = 0; done < kSets; done += batch) {
    batches.emplace_back();
    for (std::size_t i = 0; i < batch && done + i < kSets; ++i)
      batches.back().push_back(
          encode(Request{Op::set, {key_of(rng() % keys), std::string(value_bytes, 'y')}}));
  }
  fmt::print("{} keys, values of {} bytes, {} SETs in batches of {}: thread CPU ns per SET\n", keys,
             value_bytes, kSets, batch);
  // As a replica gets them: each batch one block (synod/value.h).
  std::vector<synod::Value> blocks;
  for (const auto& b : batches) blocks.push_back(synod::Value::of_commands(b));
  std::uint64_t sink = 0;
  std::uint64_t applied = 0;
  for (int round = 0; round < rounds; ++round) {
    for (bool announce : {false, true}) {
      if (!announce && modes == "prefetch") continue;
      applied += kSets;
      double t0 = thread_cpu_ns();
      for (const synod::Value& b : blocks) {
        if (announce) store.prefetch(b.commands());
        for (std::string_view c : b.commands()) sink += store.apply(c).kind == Reply::Kind::simple;
      }
      fmt::print("  round {} {:<13} {:7.1f}\n", round + 1, announce ? "prefetch" : "one by one",
                 (thread_cpu_ns() - t0) / kSets);
    }
  }
  return sink == applied ? 0 : 1;
}
