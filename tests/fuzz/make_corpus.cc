// Writes the seed corpus of decode_fuzz (tests/fuzz/corpus/decode): one input
// per sample message in each mode, plus newer-schema and hostile frames.
// Run by hand when the schema changes:
//   build/tests/fuzz/synod-make-decode-corpus tests/fuzz/corpus/decode
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "raw_frame.h"
#include "samples.h"
#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;

namespace {

void write(const std::filesystem::path& dir, const std::string& name, std::uint8_t mode,
           const std::vector<std::uint8_t>& payload) {
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.put(static_cast<char>(mode));
  out.write(reinterpret_cast<const char*>(payload.data()),
            static_cast<std::streamsize>(payload.size()));
}

std::vector<std::uint8_t> frame(const Message& m) {
  std::vector<std::uint8_t> out;
  if (encode(m, out) != Status::ok) std::abort();
  return out;
}

std::vector<std::uint8_t> body(const std::vector<std::uint8_t>& f) {
  return {f.begin() + frame_header_bytes, f.end()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s output-dir\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const std::vector<Message> all = test::sample_messages();
  std::vector<std::uint8_t> stream;
  for (const Message& m : all) {
    const std::string name(to_string(m.type));
    const std::vector<std::uint8_t> f = frame(m);
    write(dir, "body-" + name, 0, body(f));  // mode 0: flatbuffer, wrapped by the target
    stream.insert(stream.end(), f.begin(), f.end());
  }
  test::RawOptions newer;
  newer.newer_fields = true;
  write(dir, "body-newer-fields-promise", 0, test::raw_flatbuffer(all[1], newer));
  write(dir, "body-newer-fields-accept-tight", 2, test::raw_flatbuffer(all[2], newer));
  newer.version = wire_version + 1;
  write(dir, "body-newer-version", 0, test::raw_flatbuffer(all[1], newer));
  test::RawOptions kind;
  kind.kind = 7;
  write(dir, "body-unknown-kind", 0, test::raw_flatbuffer(all[8], kind));
  write(dir, "body-accept-tight", 2, body(frame(all[2])));
  // Mode 1 + chunk size in the high nibble: the whole stream, read in chunks
  // of 1, 8 and 16 bytes.
  write(dir, "stream-all-chunk1", 0x01, stream);
  write(dir, "stream-all-chunk8", 0x71, stream);
  write(dir, "stream-all-chunk16-tight", 0xF3, stream);
  std::vector<std::uint8_t> damaged = stream;
  damaged[40] ^= 0x10;
  write(dir, "stream-bad-checksum", 0x31, damaged);
  std::vector<std::uint8_t> huge = {0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0};
  write(dir, "stream-oversized-length", 0x01, huge);
  std::printf("wrote %zu seeds to %s\n", all.size() + 10, dir.c_str());
  return 0;
}
