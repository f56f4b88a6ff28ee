// 64-bit FNV-1a, the checksum of synod-kv's snapshot images SKVSNAP1 to 3
// (kv_store.cc), which must stay bit for bit what earlier releases wrote
// and read.
#pragma once

#include <cstdint>
#include <string_view>

namespace synod::kv {

constexpr std::uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;
constexpr std::uint64_t kFnv1aPrime = 0x100000001b3ull;

// Extends the running hash h (kFnv1aOffset to start):
// fnv1a(fnv1a(kFnv1aOffset, a), b) == fnv1a(kFnv1aOffset, a + b). Written
// plainly, each byte waits for the last one's multiply (~4 cycles a byte);
// where the CPU has AVX-512 VBMI and carry-less multiplies, whole blocks of
// 64 bytes take another, exact formulation without that chain (fnv1a.cc,
// docs/kv.md "Snapshot checksums"); fnv1a_vectorised() tells whether it is
// in use.
std::uint64_t fnv1a(std::uint64_t h, std::string_view bytes);
bool fnv1a_vectorised();

}  // namespace synod::kv
