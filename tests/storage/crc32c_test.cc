// CRC32C against published check values, and its two code paths against each other.
#include "crc32c.h"

#include <doctest/doctest.h>

#include <random>
#include <string_view>
#include <vector>

#include "synod/crc32c.h"

using namespace synod::storage;

namespace {
std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
}  // namespace

TEST_CASE("CRC32C matches the published check values") {
  CHECK(crc32c(bytes_of("123456789")) == 0xE3069283u);
  // RFC 3720, appendix B.4.
  std::vector<std::byte> zeros(32, std::byte{0}), ones(32, std::byte{0xFF}), ascending(32);
  for (std::size_t i = 0; i < 32; ++i) ascending[i] = std::byte(i);
  CHECK(crc32c(zeros) == 0x8A9136AAu);
  CHECK(crc32c(ones) == 0x62A8AB43u);
  CHECK(crc32c(ascending) == 0x46DD794Eu);
  CHECK(crc32c({}) == 0u);
}

TEST_CASE("the public synod::crc32c is the log's CRC32C, piece by piece too") {
  CHECK(synod::crc32c("123456789") == 0xE3069283u);
  CHECK(synod::crc32c("") == 0u);
  std::string_view text = "The quick brown fox jumps over the lazy dog, twice over.";
  CHECK(synod::crc32c(text) == crc32c(bytes_of(text)));
  CHECK(synod::crc32c(text.substr(9), synod::crc32c(text.substr(0, 9))) == synod::crc32c(text));
}

TEST_CASE("CRC32C extended piece by piece equals CRC32C of the whole") {
  std::string_view text = "The quick brown fox jumps over the lazy dog, twice over.";
  std::uint32_t whole = crc32c(bytes_of(text));
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    std::uint32_t c = crc32c(bytes_of(text.substr(0, cut)));
    CHECK(crc32c_extend(c, bytes_of(text.substr(cut))) == whole);
  }
}

TEST_CASE("the hardware and portable CRC32C paths agree at every length and alignment") {
  std::mt19937_64 rng(7);
  std::vector<std::byte> buf(1100);
  for (auto& b : buf) b = std::byte(rng());
  for (std::size_t start = 0; start < 9; ++start)
    for (std::size_t n = 0; n + start <= 1000; n += 13) {
      std::span<const std::byte> s(buf.data() + start, n);
      REQUIRE(crc32c_extend(0x12345678u, s) == crc32c_extend_portable(0x12345678u, s));
    }
  MESSAGE("hardware CRC32C in use: " << crc32c_hardware());
}

TEST_CASE("the hardware path's three streams join right at every block boundary") {
  // Blocks of 64 and 4096 bytes, three at a time: lengths around 192 and
  // 12288 and their multiples, from every alignment, against the portable
  // path; and a known value over a large buffer.
  std::mt19937_64 rng(11);
  std::vector<std::byte> buf(3 * 3 * 4096 + 3 * 128 * 3 + 64);
  for (auto& b : buf) b = std::byte(rng());
  std::vector<std::size_t> lengths;
  for (std::size_t base : {std::size_t{192}, std::size_t{384}, std::size_t{12288},
                           std::size_t{24576}, std::size_t{12288 + 192}})
    for (std::size_t d = 0; d < 20; ++d) {
      lengths.push_back(base + d);
      if (base >= d) lengths.push_back(base - d);
    }
  for (std::size_t start = 0; start < 9; ++start)
    for (std::size_t n : lengths) {
      if (start + n > buf.size()) continue;
      std::span<const std::byte> s(buf.data() + start, n);
      INFO("start " << start << " length " << n);
      REQUIRE(crc32c_extend(0xFFFFFFFFu, s) == crc32c_extend_portable(0xFFFFFFFFu, s));
      REQUIRE(crc32c_extend(0, s) == crc32c_extend_portable(0, s));
    }
  // 64 KiB of zeros, of 0xFF, and of 0..255 repeated: values from a
  // bit-at-a-time CRC32C written apart from this code (python3, the
  // reflected polynomial 0x82F63B78, one table lookup per byte).
  std::vector<std::byte> zeros(65536, std::byte{0}), ones(65536, std::byte{0xFF}), ramp(65536);
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = std::byte(i & 0xFF);
  CHECK(crc32c(zeros) == 0x72C0C4A4u);
  CHECK(crc32c(ones) == 0x545A7F44u);
  CHECK(crc32c(ramp) == 0xA224AF3Du);
  CHECK(crc32c_extend_portable(0, ramp) == 0xA224AF3Du);
}
