// CRC32C (Castagnoli), the frame checksum: the same implementation the
// durable log uses (lib/storage/crc32c.h, with SSE4.2 where the CPU has it).
#pragma once

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
