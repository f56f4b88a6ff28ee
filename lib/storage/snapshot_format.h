// The snapshot file: encoding and verified decoding of its header. Pure
// functions over bytes, no I/O. docs/storage.md describes the layout.
//
//   offset size field
//        0    8 magic           "SYNODSNP"
//        8    4 version         1
//       12    4 crc             CRC32C of bytes [0,12) then [16, end of file): header and data
//       16    8 slot            SnapshotMeta::slot (never 0)
//       24    8 ballot.round
//       32    8 ballot.node
//       40    8 data_bytes      length of the host's image
//       48    4 voters          count V   (SnapshotMeta::membership)
//       52    4 learners        count L
//       56    8 pending_from    SnapshotMeta::pending_from (0: no pending configuration)
//       64    4 pending voters  count PV  (SnapshotMeta::pending)
//       68    4 pending learners count PL
//       72    8 ids each: V voters, L learners, PV pending voters, PL pending learners
//        H    n data            H = 72 + 8 (V + L + PV + PL); the file is exactly H + data_bytes
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synod/snapshot.h"

namespace synod::storage {

inline constexpr char kSnapshotMagic[8] = {'S', 'Y', 'N', 'O', 'D', 'S', 'N', 'P'};
inline constexpr std::uint32_t kSnapshotVersion = 1;
inline constexpr std::size_t kSnapshotFixedBytes = 72;

// "snapshot-00000000000000000042.snap": 20 decimal digits hold any slot and
// sort like the numbers.
std::string snapshot_file_name(Slot slot);
bool parse_snapshot_file_name(std::string_view name, Slot* slot);

struct SnapshotHeader {
  SnapshotMeta meta;
  std::uint64_t data_bytes = 0;
  std::uint32_t crc = 0;
  std::size_t header_bytes = 0;  // H: where the data starts
};

// The whole header for this snapshot, its CRC (over header and data) filled
// in; *crc gets it too. The data is only read, never copied.
std::vector<std::byte> encode_snapshot_header(const SnapshotMeta& meta, std::string_view data,
                                              std::uint32_t* crc);

// Decodes the fixed part (the first kSnapshotFixedBytes of a file of
// file_bytes bytes): magic, version, slot, and that H + data_bytes is exactly
// file_bytes. Fills everything but the member ids' values. On failure *why
// says what is wrong.
bool decode_snapshot_fixed(std::span<const std::byte> fixed, std::uint64_t file_bytes,
                           SnapshotHeader* out, std::string* why);
// Reads the member ids. Precondition: decode_snapshot_fixed accepted the
// first bytes of header, which holds out->header_bytes bytes.
void decode_snapshot_members(std::span<const std::byte> header, SnapshotHeader* out);

// CRC32C of a snapshot file given its header and data: skips the CRC field.
std::uint32_t snapshot_crc(std::span<const std::byte> header, std::string_view data);

}  // namespace synod::storage
