// The encoder's bytes against frames committed before Value held its batch in
// one block (synod/value.h): the wire format did not change with it, so every
// sample message must encode to exactly the frames the previous encoder wrote
// into the seed corpus (tests/fuzz/corpus/decode/stream-all-chunk1, made by
// tests/fuzz/make_corpus.cc: the mode byte, then every sample's frame).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "corpus_file.h"
#include "samples.h"
#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;

TEST_CASE("every sample message encodes to the frame the previous encoder wrote") {
  const std::vector<std::uint8_t> seed = test::decode_corpus_file("stream-all-chunk1");
  REQUIRE(seed[0] == 0x01);  // the stream mode, chunks of one byte
  std::vector<std::uint8_t> stream;
  for (const Message& m : test::sample_messages()) {
    std::vector<std::uint8_t> frame;
    REQUIRE(encode(m, frame) == Status::ok);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  CHECK(stream.size() == seed.size() - 1);
  CHECK(std::equal(stream.begin(), stream.end(), seed.begin() + 1, seed.end()));
}
