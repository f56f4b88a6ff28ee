// crc32c_patch8 (crc32c.h): a frame's checksum after 8 of its bytes changed,
// in GF(2) polynomial arithmetic on CRC32C's reflected polynomial (the
// method of zlib's crc32_combine: multmodp and x2nmodp).
#include <array>

#include "crc32c.h"

namespace synod::wire::detail {
namespace {

constexpr std::uint32_t kPolynomial = 0x82f63b78u;  // Castagnoli, reflected
constexpr std::uint32_t kOne = 1u << 31;            // x^0, reflected

// a * b modulo the polynomial (reflected: bit 31 is x^0).
std::uint32_t multiply(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (std::uint32_t m = kOne; m != 0; m >>= 1) {
    if (a & m) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// x^(2^k) modulo the polynomial, k = 0..31.
const std::array<std::uint32_t, 32>& powers() {
  static const std::array<std::uint32_t, 32> table = [] {
    std::array<std::uint32_t, 32> t{};
    std::uint32_t p = kOne >> 1;  // x^1
    for (std::uint32_t& e : t) {
      e = p;
      p = multiply(p, p);
    }
    return t;
  }();
  return table;
}

// x^(8 * bytes) modulo the polynomial: what carrying a CRC register over
// that many zero bytes multiplies it by.
std::uint32_t zeros_operator(std::size_t bytes) {
  std::uint32_t p = kOne;
  unsigned k = 3;  // 8 * bytes = bytes * 2^3
  for (std::size_t n = bytes; n != 0; n >>= 1, ++k)
    if (n & 1) p = multiply(powers()[k & 31], p);
  return p;
}

}  // namespace

std::uint32_t crc32c_patch8(std::uint32_t crc, std::size_t size, std::size_t offset,
                            const std::uint8_t before[8], const std::uint8_t after[8]) {
  std::uint8_t delta[8];
  for (int i = 0; i < 8; ++i) delta[i] = before[i] ^ after[i];
  // crc32c() pre- and post-inverts; the register alone, from zero, is
  // ~crc32c(~0, bytes). For two buffers of one length the inversions
  // cancel: crc(A) ^ crc(B) = register(A ^ B), and the zeros before the
  // changed bytes leave a zero register zero.
  const std::uint32_t changed = ~crc32c(~0u, std::span<const std::uint8_t>(delta, 8));
  return crc ^ multiply(zeros_operator(size - offset - 8), changed);
}

}  // namespace synod::wire::detail
