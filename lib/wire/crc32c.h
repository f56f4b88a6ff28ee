// CRC32C (Castagnoli), the frame checksum: the same implementation the
// durable log uses (lib/storage/crc32c.h, with SSE4.2 where the CPU has it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "../storage/crc32c.h"

namespace synod::wire::detail {

// Extends `crc` (the result of a previous call, or 0 to start) with `bytes`.
// crc32c(0, "123456789") == 0xE3069283.
inline std::uint32_t crc32c(std::uint32_t crc, std::span<const std::uint8_t> bytes) {
  return storage::crc32c_extend(crc, std::as_bytes(bytes));
}

}  // namespace synod::wire::detail

namespace synod::wire::detail {

// The CRC32C of a buffer whose bytes [offset, offset + 8) changed from
// `before` to `after` (8 bytes each), given `crc`, the CRC32C of the buffer
// of `size` bytes before the change: without reading the buffer again. CRC
// is linear, so the change in the checksum is the raw CRC of the changed
// bytes carried over the `size - offset - 8` bytes after them, which is a
// multiplication by x^(8n) modulo the polynomial (as zlib's crc32_combine
// does): a few hundred instructions, against one per 8 bytes of the buffer
// to compute it again. Precondition: offset + 8 <= size.
std::uint32_t crc32c_patch8(std::uint32_t crc, std::size_t size, std::size_t offset,
                            const std::uint8_t before[8], const std::uint8_t after[8]);

}  // namespace synod::wire::detail
