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
