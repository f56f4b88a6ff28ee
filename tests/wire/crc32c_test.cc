// CRC32C against published check values (RFC 3720 appendix B.4).
#include "crc32c.h"

#include <doctest/doctest.h>

#include <string_view>
#include <vector>

using synod::wire::detail::crc32c;

namespace {
std::uint32_t crc_of(std::string_view s) {
  return crc32c(0, {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}
}  // namespace

TEST_CASE("crc32c matches the published check values") {
  CHECK(crc_of("") == 0);
  CHECK(crc_of("123456789") == 0xE3069283u);
  CHECK(crc32c(0, std::vector<std::uint8_t>(32, 0)) == 0x8A9136AAu);
  CHECK(crc32c(0, std::vector<std::uint8_t>(32, 0xFF)) == 0x62A8AB43u);
  std::vector<std::uint8_t> up(32), down(32);
  for (int i = 0; i < 32; ++i)
    up[i] = static_cast<std::uint8_t>(i), down[i] = static_cast<std::uint8_t>(31 - i);
  CHECK(crc32c(0, up) == 0x46DD794Eu);
  CHECK(crc32c(0, down) == 0x113FDB5Cu);
}

TEST_CASE("crc32c over pieces equals crc32c over the whole, at any split and alignment") {
  std::vector<std::uint8_t> data(1000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + 7);
  const std::uint32_t whole = crc32c(0, data);
  std::span<const std::uint8_t> all(data);
  for (std::size_t cut = 0; cut <= 40; ++cut) {
    CHECK(crc32c(crc32c(0, all.first(cut)), all.subspan(cut)) == whole);
  }
}
