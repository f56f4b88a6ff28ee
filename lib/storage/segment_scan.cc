// Segment scanning. Resynchronising past damage tries every byte offset, but
// skips zero runs (a record's type byte is never zero), so a mostly
// preallocated segment scans fast.
#include "segment_scan.h"

#include <algorithm>

namespace synod::storage {
namespace {

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// Offsets past `from` where a valid record of a batch at or above
// stale_below starts, chaining from each valid record (stale ones too).
std::vector<ResyncHit> resync(std::span<const std::byte> bytes, std::uint64_t from,
                              std::uint64_t stale_below) {
  std::vector<ResyncHit> hits;
  std::uint64_t at = from;
  constexpr std::uint64_t kTypeOffset = 8;
  while (at + kRecordHeaderBytes <= bytes.size()) {
    // A record's type byte is non-zero: jump to the next non-zero byte.
    auto nonzero = std::find_if(bytes.begin() + static_cast<std::ptrdiff_t>(at + kTypeOffset),
                                bytes.end(), [](std::byte b) { return b != std::byte{0}; });
    if (nonzero == bytes.end()) break;
    at = static_cast<std::uint64_t>(nonzero - bytes.begin()) - kTypeOffset;
    DecodedRecord r;
    if (decode_record(bytes.subspan(at), &r) == DecodeStatus::ok) {
      if (r.header.batch >= stale_below) hits.push_back({at, r.header.batch});
      at += r.record_bytes;
    } else {
      ++at;
    }
  }
  return hits;
}

}  // namespace

SegmentScan scan_segment(std::span<const std::byte> bytes) {
  SegmentScan scan;
  std::uint64_t at = 0;
  while (at < bytes.size()) {
    DecodedRecord r;
    DecodeStatus st = decode_record(bytes.subspan(at), &r);
    if (st != DecodeStatus::ok) {
      scan.damage = st;
      break;
    }
    if (r.header.batch < scan.stale_below) {  // the older segment's
      scan.damage = DecodeStatus::stale;
      break;
    }
    if (scan.chain.empty() && r.header.type == RecordType::segment_header &&
        segment_header_of(r).recycled)
      scan.stale_below = r.header.batch;
    scan.chain.push_back({at, r});
    at += r.record_bytes;
  }
  scan.chain_end = at;
  if (at < bytes.size() && !all_zero(bytes.subspan(at))) {
    scan.beyond = resync(bytes, at + 1, scan.stale_below);
    // Stale bytes past a recycled segment's end are no damage. A record of
    // one of its own batches out there is, and so is anything but zeros
    // from the end to the next pad boundary (the last write's padding):
    // the start of a torn batch, or damage to the last one. Only a chain
    // that ends on a boundary, or at a stale record, leaves the older
    // segment's bytes right behind it.
    if (scan.stale_below == 0 || !scan.beyond.empty()) {
      scan.damaged = true;
    } else if (scan.damage != DecodeStatus::stale && at % kWritePadBytes != 0) {
      std::uint64_t pad_end =
          std::min<std::uint64_t>(bytes.size(), (at / kWritePadBytes + 1) * kWritePadBytes);
      scan.damaged = !all_zero(bytes.subspan(at, pad_end - at));
    }
  }
  return scan;
}

}  // namespace synod::storage
