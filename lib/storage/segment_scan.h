// Scanning one segment's bytes for recovery: the chain of valid records from
// the start, why it stopped, and any valid records past a damaged spot.
// Pure: no I/O, no policy. log_recovery.cc decides what the damage means.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "record_format.h"

namespace synod::storage {

struct ScannedRecord {
  std::uint64_t offset = 0;
  DecodedRecord record;
};

// A valid record found by trying every offset past a damaged spot.
struct ResyncHit {
  std::uint64_t offset = 0;
  std::uint64_t batch = 0;
};

struct SegmentScan {
  // Valid records from offset 0, in order, each starting where the previous
  // ended. Payload spans point into the scanned bytes.
  std::vector<ScannedRecord> chain;
  // Invariant: the offset after the last chain record (0 if none).
  std::uint64_t chain_end = 0;
  // False when the bytes from chain_end on are absent or all zero (a clean
  // end: preallocated, never written). True when something else is there.
  // In a recycled segment (SegmentHeader::recycled) what follows the end is
  // the older segment's bytes, stale: there, true only when a valid record
  // of a batch at or above stale_below lies past chain_end, or when the
  // bytes from chain_end to the next kWritePadBytes boundary (the last
  // write's zero padding) are not all zeros.
  bool damaged = false;
  // Recycled segments: the header's batch. A record of a lower batch is
  // stale (the older segment's): it ends the chain and is no hit beyond.
  // 0 otherwise.
  std::uint64_t stale_below = 0;
  // Why the record at chain_end failed to decode (when damaged).
  DecodeStatus damage = DecodeStatus::ok;
  // Valid records past the damage, ascending, stale ones left out. A torn
  // unsynced batch can leave some of its records intact after a hole; a
  // synced batch after the damage proves the damaged bytes were synced
  // (corruption, not a torn write).
  std::vector<ResyncHit> beyond;
};

SegmentScan scan_segment(std::span<const std::byte> bytes);

}  // namespace synod::storage
