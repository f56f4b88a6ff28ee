// CRC32C (Castagnoli), as used by iSCSI, ext4 and most storage formats: the
// frame checksum. Portable slice-by-8; no CPU-specific instructions.
#pragma once

#include <cstdint>
#include <span>

namespace synod::wire::detail {

// Extends `crc` (the result of a previous call, or 0 to start) with `bytes`.
// crc32c(0, "123456789") == 0xE3069283.
std::uint32_t crc32c(std::uint32_t crc, std::span<const std::uint8_t> bytes);

}  // namespace synod::wire::detail
