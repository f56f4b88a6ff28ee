// CRC32C (Castagnoli), the checksum of every log record. Chosen over CRC32
// for its better error detection on storage-sized blocks and because x86
// computes it in hardware (SSE4.2), used when the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace synod::storage {

// Extends a running CRC (start from 0) over data: crc32c_extend(crc32c(a), b)
// equals crc32c(a ++ b).
std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::byte> data);
inline std::uint32_t crc32c(std::span<const std::byte> data) { return crc32c_extend(0, data); }

// The portable slicing-by-8 path alone (tests compare it with the hardware path).
std::uint32_t crc32c_extend_portable(std::uint32_t crc, std::span<const std::byte> data);
// True when crc32c_extend uses the SSE4.2 instruction.
bool crc32c_hardware();

}  // namespace synod::storage
