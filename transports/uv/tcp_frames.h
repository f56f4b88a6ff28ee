// The frame layer of the TCP transport (docs/wire.md): each frame is a
// 4-byte little-endian length, then that many bytes. Shared by the transport
// and the fuzz target (tests/fuzz/tls_frames_fuzz.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace synod::tcp_wire {

enum class FrameScan : std::uint8_t { frame, need_more, oversized };

// Looks for one whole frame at the start of `bytes`. On `frame`, *frame is
// its payload and *consumed the bytes it took with its prefix; on
// `oversized`, *consumed is the length the prefix announced.
inline FrameScan next_frame(std::span<const std::uint8_t> bytes, std::uint32_t frame_bytes_max,
                            std::span<const std::uint8_t>* frame, std::size_t* consumed) {
  if (bytes.size() < 4) return FrameScan::need_more;
  std::uint32_t len =
      static_cast<std::uint32_t>(bytes[0]) | static_cast<std::uint32_t>(bytes[1]) << 8 |
      static_cast<std::uint32_t>(bytes[2]) << 16 | static_cast<std::uint32_t>(bytes[3]) << 24;
  if (len > frame_bytes_max) {
    *consumed = len;
    return FrameScan::oversized;
  }
  if (bytes.size() - 4 < len) return FrameScan::need_more;
  *frame = bytes.subspan(4, len);
  *consumed = 4 + static_cast<std::size_t>(len);
  return FrameScan::frame;
}

}  // namespace synod::tcp_wire
