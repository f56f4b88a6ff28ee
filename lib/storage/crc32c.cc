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
__attribute__((target("sse4.2"))) std::uint32_t hardware(std::uint32_t c, const std::byte* p,
                                                         std::size_t n) {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // x86 is little-endian, as the CRC expects
    c64 = _mm_crc32_u64(c64, word);
    p += 8;
    n -= 8;
  }
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
