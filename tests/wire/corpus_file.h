// The decode seed corpus (tests/fuzz/corpus/decode) from the wire tests.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace synod::wire::test {

// The bytes of one corpus file; `meson test` passes the directory in
// SYNOD_DECODE_CORPUS. Fails the test when it is unset, or the file is
// missing or holds no more than its mode byte.
inline std::vector<std::uint8_t> decode_corpus_file(const std::string& name) {
  const char* dir = std::getenv("SYNOD_DECODE_CORPUS");
  REQUIRE_MESSAGE(dir != nullptr, "SYNOD_DECODE_CORPUS is not set (run through meson test)");
  std::ifstream in(std::string(dir) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "no corpus file " << name);
  std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
  REQUIRE(bytes.size() > 1);
  return bytes;
}

}  // namespace synod::wire::test
