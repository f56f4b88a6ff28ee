#include "framing.h"

#include <fmt/format.h>

#include "crc32c.h"

namespace synod::wire::detail {

DecodeResult refuse(Status status, WireError reason, std::string error, std::size_t consumed) {
  return DecodeResult{status, reason, std::move(error), consumed};
}

DecodeResult check_frame(std::span<const std::uint8_t> bytes, const WireLimits& limits) {
  if (bytes.size() < frame_header_bytes) return {};
  const std::uint32_t length = get_u32_le(bytes.data());
  if (length > frame_max(limits)) {
    return refuse(
        Status::oversized, WireError::oversized,
        fmt::format("frame length {} exceeds frame_bytes_max {}", length, frame_max(limits)), 0);
  }
  const std::size_t total = frame_header_bytes + length;
  if (bytes.size() < total) return {};
  const std::uint32_t want = get_u32_le(bytes.data() + 4);
  const std::uint32_t got = crc32c(0, bytes.subspan(frame_header_bytes, length));
  if (want != got) {
    return refuse(Status::malformed, WireError::bad_checksum,
                  fmt::format("frame checksum mismatch (header says {:#010x}, {} bytes hash to "
                              "{:#010x})",
                              want, length, got),
                  0);
  }
  return DecodeResult{Status::ok, WireError::none, {}, total};
}

}  // namespace synod::wire::detail
