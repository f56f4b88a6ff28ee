#include "fnv1a.h"

#include <algorithm>
#include <array>
#include <cstddef>

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 extract intrinsics start from _mm512_undefined_*, which
// -Wuninitialized and -Wmaybe-uninitialized take for a read of an
// uninitialised value (a false positive: the undefined lanes are never
// read). Off for this file only (clang has no -Wmaybe-uninitialized).
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#endif

namespace synod::kv {
namespace {

std::uint64_t fnv1a_bytewise(std::uint64_t h, const unsigned char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= kFnv1aPrime;
  }
  return h;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SYNOD_FNV1A_VECTOR 1
#define SYNOD_FNV1A_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi,avx512dq,pclmul")))

// FNV-1a without its chain of multiplies, exactly (the proof is in
// docs/kv.md, "Snapshot checksums"; tests/kv/snapshot_image_test.cc checks
// it against the plain loop). With l_n the low byte of h_n and
// x_n = l_n ^ b_n, h_n ^ b_n = h_n + e_n where e_n = x_n - l_n, so
//   h_N = h_0 P^N + sum_n e_n P^(N-n)   (mod 2^64),
// a sum whose terms are independent once the l_n are known. And the low
// byte has a chain of its own: l_(n+1) = low byte of x_n * 0xb3. Bit
// k of a product by an odd number is bit k of the multiplicand xor a
// function of its bits below k, so, bit by bit from 0 to 7, bit k of every
// l_n in a block is a prefix xor of known bits (one carry-less multiply by
// all ones for 64 bytes). Eight blocks go through each bit together, so
// the CPU overlaps their latencies.
constexpr std::size_t kBlock = 64;
constexpr std::size_t kBlocksTogether = 8;

// kLowProduct[y] = the low byte of y * P, for the 7 low bits y of x_n.
constexpr std::array<unsigned char, 128> kLowProduct = [] {
  std::array<unsigned char, 128> t{};
  for (unsigned y = 0; y < 128; ++y) t[y] = static_cast<unsigned char>(y * kFnv1aPrime);
  return t;
}();
// kWeights[n] = P^(64 - n): the weight of byte n's e_n in its block's sum.
constexpr std::array<std::uint64_t, kBlock> kWeights = [] {
  std::array<std::uint64_t, kBlock + 1> power{};
  power[0] = 1;
  for (std::size_t i = 1; i <= kBlock; ++i) power[i] = power[i - 1] * kFnv1aPrime;
  std::array<std::uint64_t, kBlock> w{};
  for (std::size_t n = 0; n < kBlock; ++n) w[n] = power[kBlock - n];
  return w;
}();
constexpr std::uint64_t kPrimeToBlock = [] {
  std::uint64_t p = 1;
  for (std::size_t i = 0; i < kBlock; ++i) p *= kFnv1aPrime;
  return p;
}();

// Bit n of the result: the xor of bits 0 to n of `bits`.
SYNOD_FNV1A_TARGET inline std::uint64_t prefix_xor(std::uint64_t bits) {
  __m128i product = _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<long long>(bits)),
                                         _mm_set1_epi64x(-1), 0x00);
  return static_cast<std::uint64_t>(_mm_cvtsi128_si64(product));
}

// sum += (quarter Q of the 32 16-bit e_n in e16, widened) * w, in eight lanes.
template <int Q>
SYNOD_FNV1A_TARGET inline __m512i add_weighted_quarter(__m512i sum, __m512i e16, __m512i w) {
  return _mm512_add_epi64(
      sum, _mm512_mullo_epi64(_mm512_cvtepi16_epi64(_mm512_extracti32x4_epi32(e16, Q)), w));
}

// sum_n e_n kWeights[n] over one block, in eight lanes: e_n = x_n - l_n.
SYNOD_FNV1A_TARGET inline __m512i weighted_block(__m512i x, __m512i l, const __m512i* weights) {
  __m512i e16[2] = {_mm512_sub_epi16(_mm512_cvtepu8_epi16(_mm512_castsi512_si256(x)),
                                     _mm512_cvtepu8_epi16(_mm512_castsi512_si256(l))),
                    _mm512_sub_epi16(_mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(x, 1)),
                                     _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(l, 1)))};
  __m512i sum = _mm512_setzero_si512();
  for (int half = 0; half < 2; ++half) {
    sum = add_weighted_quarter<0>(sum, e16[half], weights[4 * half + 0]);
    sum = add_weighted_quarter<1>(sum, e16[half], weights[4 * half + 1]);
    sum = add_weighted_quarter<2>(sum, e16[half], weights[4 * half + 2]);
    sum = add_weighted_quarter<3>(sum, e16[half], weights[4 * half + 3]);
  }
  return sum;
}

// FNV-1a over `blocks` whole blocks of 64 bytes from p.
SYNOD_FNV1A_TARGET std::uint64_t fnv1a_blocks(std::uint64_t h, const unsigned char* p,
                                              std::size_t blocks) {
  const __m512i product_low = _mm512_loadu_si512(kLowProduct.data());
  const __m512i product_high = _mm512_loadu_si512(kLowProduct.data() + 64);
  __m512i weights[8];
  for (int g = 0; g < 8; ++g) weights[g] = _mm512_loadu_si512(kWeights.data() + 8 * g);
  const __m512i prime_to_block = _mm512_set1_epi64(static_cast<long long>(kPrimeToBlock));
  __m512i sum = _mm512_setzero_si512();  // sum_n e_n P^(N-n) so far, over eight lanes
  std::uint64_t head = h;                // h_0 P^N so far
  unsigned low = h & 0xff;               // the low byte of h_n at the next block
  for (std::size_t done = 0; done < blocks;) {
    std::size_t together = std::min(kBlocksTogether, blocks - done);
    __m512i b[kBlocksTogether], x[kBlocksTogether];
    for (std::size_t j = 0; j < together; ++j) {
      b[j] = _mm512_loadu_si512(p + kBlock * (done + j));
      x[j] = _mm512_setzero_si512();
    }
    for (unsigned k = 0; k < 8; ++k) {
      const __m512i bit = _mm512_set1_epi8(static_cast<char>(1u << k));
      // Bit k of l_(n+1) is bit k of l_n xor d_n, d_n being bit k of
      // b_n xor (the low k bits of x_n) * P: known for every n.
      std::uint64_t inclusive[kBlocksTogether];
      for (std::size_t j = 0; j < together; ++j) {
        __m512i product = _mm512_permutex2var_epi8(product_low, x[j], product_high);
        inclusive[j] = prefix_xor(_mm512_test_epi8_mask(_mm512_xor_si512(product, b[j]), bit));
      }
      std::uint64_t at_start = (low >> k) & 1;
      for (std::size_t j = 0; j < together; ++j) {
        std::uint64_t l_bits = (inclusive[j] << 1) ^ (0 - at_start);
        __mmask64 x_bits = l_bits ^ _mm512_test_epi8_mask(b[j], bit);
        x[j] = _mm512_or_si512(x[j], _mm512_maskz_mov_epi8(x_bits, bit));
        at_start ^= inclusive[j] >> 63;
      }
      low = (low & ~(1u << k)) | static_cast<unsigned>(at_start << k);
    }
    for (std::size_t j = 0; j < together; ++j) {
      __m512i l = _mm512_xor_si512(x[j], b[j]);
      sum = _mm512_add_epi64(_mm512_mullo_epi64(sum, prime_to_block),
                             weighted_block(x[j], l, weights));
      head *= kPrimeToBlock;
    }
    done += together;
  }
  // Not _mm512_reduce_add_epi64: GCC's adds the lanes as signed long long,
  // whose overflow is undefined (UBSan says so); these sums wrap mod 2^64.
  alignas(64) std::uint64_t lanes[8];
  _mm512_store_si512(lanes, sum);
  for (std::uint64_t lane : lanes) head += lane;
  return head;
}

bool has_vector_fnv1a() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vbmi") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("pclmul");
  return has;
}
#endif

}  // namespace

bool fnv1a_vectorised() {
#ifdef SYNOD_FNV1A_VECTOR
  return has_vector_fnv1a();
#else
  return false;
#endif
}

std::uint64_t fnv1a(std::uint64_t h, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
#ifdef SYNOD_FNV1A_VECTOR
  if (n >= kBlock && has_vector_fnv1a()) {
    std::size_t blocks = n / kBlock;
    h = fnv1a_blocks(h, p, blocks);
    p += blocks * kBlock;
    n -= blocks * kBlock;
  }
#endif
  return fnv1a_bytewise(h, p, n);
}

}  // namespace synod::kv
