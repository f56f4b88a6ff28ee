// libFuzzer target for the wire decoder (lib/wire). Also linked into the
// corpus replay test, so every compiler runs the checks below over the seeds.
//
// Input: one mode byte, then a payload.
//   mode bit 0 clear: the payload is a flatbuffer; it is wrapped in a frame
//     with a correct length and checksum, so mutations reach the verifier and
//     the conversion instead of dying at the CRC.
//   mode bit 0 set: the payload is a raw byte stream, decoded frame by frame
//     and also fed to a FrameReader in chunks of (mode >> 4) + 1 bytes.
//   mode bit 1 set: tight limits, so the oversized paths run too.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
//   - decoding never crashes, leaks or reads out of bounds (ASan, UBSan);
//   - a decoded message re-encodes under the same limits and decodes back
//     equal (the decoder accepts nothing the encoder would refuse);
//   - a FrameReader yields exactly what decode_frame yields on the stream.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "crc32c.h"
#include "framing.h"
#include "synod/wire.h"

namespace {

using namespace synod;
using namespace synod::wire;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

WireLimits limits_for(std::uint8_t mode) {
  WireLimits l;
  if (mode & 2) {
    l.frame_bytes_max = 4096;
    l.entries_max = 4;
    l.commands_max = 16;
    l.command_bytes_max = 64;
  }
  return l;
}

void check_round_trip(const Message& m, const WireLimits& limits) {
  std::vector<std::uint8_t> again;
  check(encode(m, again, limits) == Status::ok);
  Message back;
  const DecodeResult r = decode_one(again, back, limits);
  check(r.status == Status::ok && back == m);
}

// Decodes the stream frame by frame; what decoded is checked and returned.
std::vector<Message> decode_stream(std::span<const std::uint8_t> data, const WireLimits& limits) {
  std::vector<Message> out;
  while (true) {
    Message m;
    const DecodeResult r = decode_frame(data, m, limits);
    check(r.consumed <= data.size());
    if (r.status == Status::ok && r.consumed == 0) break;  // need more
    if (r.status != Status::ok) {
      check(!r.error.empty());
      if (r.consumed == 0) break;  // framing lost
    } else {
      check_round_trip(m, limits);
      out.push_back(std::move(m));
    }
    data = data.subspan(r.consumed);
  }
  return out;
}

std::vector<Message> read_stream(std::span<const std::uint8_t> data, const WireLimits& limits,
                                 std::size_t chunk) {
  FrameReader reader(limits);
  std::vector<Message> out;
  while (!data.empty() && !reader.failed()) {
    const std::size_t took = reader.feed(data.first(std::min(chunk, data.size())));
    data = data.subspan(took);
    for (;;) {
      Message m;
      const DecodeResult r = reader.next(m);
      if (r.need_more() || reader.failed()) break;
      if (r.status == Status::ok) out.push_back(std::move(m));
    }
    check(reader.buffered_bytes() <= frame_header_bytes + limits.frame_bytes_max);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::span<const std::uint8_t> payload(data + 1, size - 1);
  const WireLimits limits = limits_for(mode);
  if ((mode & 1) == 0) {
    std::vector<std::uint8_t> frame;
    detail::put_u32_le(frame, static_cast<std::uint32_t>(payload.size()));
    detail::put_u32_le(frame, detail::crc32c(0, payload));
    frame.insert(frame.end(), payload.begin(), payload.end());
    Message m;
    const DecodeResult r = decode_one(frame, m, limits);
    if (payload.size() > limits.frame_bytes_max) {
      check(r.status == Status::oversized);
    } else {
      check(r.consumed == frame.size());  // the checksum matches by construction
      if (r.status == Status::ok) check_round_trip(m, limits);
    }
    return 0;
  }
  const std::vector<Message> direct = decode_stream(payload, limits);
  const std::vector<Message> streamed = read_stream(payload, limits, (mode >> 4) + 1u);
  check(direct == streamed);
  return 0;
}
