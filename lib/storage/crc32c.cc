// CRC32C, reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF
// (RFC 3720 appendix B.4). Slicing-by-8 tables are built at compile time.
#include "crc32c.h"

#include <array>
#include <cstring>

#include "synod/crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace synod::storage {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  return t;
}

constexpr Tables kTables = make_tables();
static_assert(kTables[0][1] == 0xF26B8303u, "CRC32C table is wrong");

std::uint32_t load_le32(const std::byte* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}

// Works on the un-inverted register: callers do the XORs.
std::uint32_t slice8(std::uint32_t c, const std::byte* p, std::size_t n) {
  while (n >= 8) {
    std::uint32_t lo = load_le32(p) ^ c;
    std::uint32_t hi = load_le32(p + 4);
    c = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xFF] ^ kTables[2][(hi >> 8) & 0xFF] ^
        kTables[1][(hi >> 16) & 0xFF] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ kTables[0][(c ^ std::uint32_t(*p++)) & 0xFF];
  return c;
}

#if defined(__x86_64__)
// Shifting a CRC register over n zero bytes is linear in the register, a
// 32x32 matrix over GF(2) (column i: the image of bit i); applying it through
// four byte-indexed tables costs four lookups. The hardware path below runs
// three streams at once and joins them with it: reg(c, A B) =
// zeros(reg(c, A), |B|) ^ reg(0, B).
using Matrix = std::array<std::uint32_t, 32>;

constexpr std::uint32_t apply(const Matrix& m, std::uint32_t v) {
  std::uint32_t out = 0;
  for (int i = 0; v != 0; ++i, v >>= 1)
    if (v & 1) out ^= m[static_cast<std::size_t>(i)];
  return out;
}

constexpr Matrix squared(const Matrix& m) {
  Matrix out{};
  for (std::size_t i = 0; i < 32; ++i) out[i] = apply(m, m[i]);
  return out;
}

using ShiftTables = std::array<std::array<std::uint32_t, 256>, 4>;

// Tables that move a register over `bytes` zero bytes (a power of two).
constexpr ShiftTables make_shift_tables(std::size_t bytes) {
  Matrix m{};  // one zero bit: c = c & 1 ? c >> 1 ^ P : c >> 1
  m[0] = kPolynomial;
  for (std::size_t i = 1; i < 32; ++i) m[i] = 1u << (i - 1);
  for (std::size_t bits = 1; bits < 8 * bytes; bits *= 2) m = squared(m);
  ShiftTables t{};
  for (std::size_t k = 0; k < 4; ++k)
    for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = apply(m, b << (8 * k));
  return t;
}

std::uint32_t shift(const ShiftTables& t, std::uint32_t c) {
  return t[0][c & 0xFF] ^ t[1][(c >> 8) & 0xFF] ^ t[2][(c >> 16) & 0xFF] ^ t[3][c >> 24];
}

// Stream lengths: a batch of entries (tens of KiB) runs mostly in long
// blocks, a record of a few hundred bytes in short ones or none.
constexpr std::size_t kLongBlock = 4096, kShortBlock = 64;
constexpr ShiftTables kLongShift = make_shift_tables(kLongBlock);
constexpr ShiftTables kShortShift = make_shift_tables(kShortBlock);
static_assert(kLongShift[0][1] != 0 && kShortShift[0][1] != 0);

__attribute__((target("sse4.2"))) std::uint64_t load64(const std::byte* p) {
  std::uint64_t word;
  std::memcpy(&word, p, 8);  // x86 is little-endian, as the CRC expects
  return word;
}

// Three blocks of `block` bytes at once: the crc32 instruction takes three
// cycles to give its result but starts one a cycle, so one stream leaves
// two thirds of it idle.
__attribute__((target("sse4.2"))) std::uint64_t three_streams(std::uint64_t c, const std::byte*& p,
                                                              std::size_t& n, std::size_t block,
                                                              const ShiftTables& t) {
  while (n >= 3 * block) {
    std::uint64_t c1 = 0, c2 = 0;
    for (const std::byte* end = p + block; p < end; p += 8) {
      c = _mm_crc32_u64(c, load64(p));
      c1 = _mm_crc32_u64(c1, load64(p + block));
      c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
    }
    c = shift(t, static_cast<std::uint32_t>(c)) ^ c1;
    c = shift(t, static_cast<std::uint32_t>(c)) ^ c2;
    p += 2 * block;
    n -= 3 * block;
  }
  return c;
}

__attribute__((target("sse4.2"))) std::uint32_t hardware(std::uint32_t c, const std::byte* p,
                                                         std::size_t n) {
  std::uint64_t c64 = c;
  c64 = three_streams(c64, p, n, kLongBlock, kLongShift);
  c64 = three_streams(c64, p, n, kShortBlock, kShortShift);
  for (; n >= 8; p += 8, n -= 8) c64 = _mm_crc32_u64(c64, load64(p));
  c = static_cast<std::uint32_t>(c64);
  while (n--) c = _mm_crc32_u8(c, std::uint8_t(*p++));
  return c;
}

bool detect_hardware() {
  __builtin_cpu_init();  // safe even before static constructors ran
  return __builtin_cpu_supports("sse4.2");
}
#else
std::uint32_t hardware(std::uint32_t c, const std::byte* p, std::size_t n) {
  return slice8(c, p, n);
}
bool detect_hardware() { return false; }
#endif

// A function-local static: safe to call from other files' static initialisers.
bool use_hardware() {
  static const bool hw = detect_hardware();
  return hw;
}

}  // namespace

std::uint32_t crc32c_extend_portable(std::uint32_t crc, std::span<const std::byte> data) {
  return ~slice8(~crc, data.data(), data.size());
}

std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::byte> data) {
  if (use_hardware()) return ~hardware(~crc, data.data(), data.size());
  return crc32c_extend_portable(crc, data);
}

bool crc32c_hardware() { return use_hardware(); }

}  // namespace synod::storage

namespace synod {

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc) {
  return storage::crc32c_extend(crc, std::as_bytes(std::span(bytes.data(), bytes.size())));
}

}  // namespace synod
