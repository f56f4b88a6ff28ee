// The frame header (length | crc32c), shared by decode_frame, FrameReader and
// the encoder. Knows nothing of what the flatbuffer holds.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "synod/wire.h"

namespace synod::wire::detail {

inline void put_u32_le(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

inline std::uint32_t get_u32_le(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

// limits.frame_bytes_max, capped at what FlatBuffers can address.
inline std::uint32_t frame_max(const WireLimits& limits) {
  return limits.frame_bytes_max < frame_bytes_limit ? limits.frame_bytes_max : frame_bytes_limit;
}

// A refusal with a reason and a sentence.
DecodeResult refuse(Status status, WireError reason, std::string error, std::size_t consumed);

// Finds the first frame in `bytes` and checks its length and checksum.
//   ok, consumed == 0: incomplete, more bytes needed.
//   ok, consumed > 0: a frame of `consumed` bytes, header included, whose
//     checksum matches.
//   oversized / malformed (bad_checksum), consumed == 0: framing is lost.
// The length is checked against the limit as soon as the header is in, so an
// oversized frame is refused before anyone buffers it.
DecodeResult check_frame(std::span<const std::uint8_t> bytes, const WireLimits& limits);

}  // namespace synod::wire::detail
