// Writes the seed corpus of decode_fuzz (tests/fuzz/corpus/decode): one input
// per sample message in each mode, plus newer-schema and hostile frames.
// Run by hand when the schema changes:
//   build/tests/fuzz/synod-make-decode-corpus tests/fuzz/corpus/decode
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "raw_frame.h"
#include "samples.h"
#include "synod/wire.h"

using namespace synod;
using namespace synod::wire;

namespace {

std::size_t written = 0;

void write(const std::filesystem::path& dir, const std::string& name, std::uint8_t mode,
           const std::vector<std::uint8_t>& payload) {
  ++written;
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
  std::map<std::string, int> seen;  // a type sampled twice: body-<type>-2
  for (const Message& m : all) {
    std::string name = "body-";
    name += to_string(m.type);
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on
    // "-" + std::to_string(n).
    if (const int n = ++seen[name]; n > 1) name.append("-").append(std::to_string(n));
    const std::vector<std::uint8_t> f = frame(m);
    write(dir, name, 0, body(f));  // mode 0: flatbuffer, wrapped by the target
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
  // Snapshot transfer: a chunk under tight limits and from a newer schema, and
  // the snapshot fields where they do not belong (refused by the rules).
  const auto chunk = std::find_if(all.begin(), all.end(), [](const Message& m) {
    return m.type == MessageType::snapshot_chunk;
  });
  if (chunk == all.end()) std::abort();
  write(dir, "body-snapshot_chunk-tight", 2, body(frame(*chunk)));
  test::RawOptions newer_chunk;
  newer_chunk.newer_fields = true;
  write(dir, "body-newer-fields-snapshot_chunk", 0, test::raw_flatbuffer(*chunk, newer_chunk));
  Message misplaced = all[4];  // heartbeat
  misplaced.payload = chunk->payload;
  misplaced.offset = chunk->offset;
  write(dir, "body-payload-on-heartbeat", 0, test::raw_flatbuffer(misplaced));
  Message no_snapshot = *chunk;
  no_snapshot.slot_end = Slot{0};
  write(dir, "body-snapshot_chunk-slot-end-0", 0, test::raw_flatbuffer(no_snapshot));
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
  std::printf("wrote %zu seeds to %s\n", written, dir.c_str());
  return 0;
}
