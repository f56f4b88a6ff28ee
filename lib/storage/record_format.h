// The on-disk record: encoding and verified decoding. Pure functions over
// bytes, no I/O. docs/storage.md describes the layout for humans.
//
//   offset size field
//        0    4 payload_bytes    little-endian, like every integer here
//        4    4 crc              CRC32C of bytes [0,4) then [8, 44 + payload_bytes)
//        8    1 type             RecordType; 0 is never valid (zeroed disk)
//        9    1 flags            RecordFlag bits; unknown bits are invalid
//       10    1 value_kind       entry: ValueKind; otherwise 0
//       11    1 reserved         0
//       12    8 batch            the sync batch this record was written in
//       20    8 slot             entry: its slot; hard state: commit; compaction: below;
//                                snapshot: the snapshot's slot; group records: the group id;
//                                segment header: bit 0 set when zeroed ahead
//       28    8 ballot.round     entry: accepted ballot; hard state: promised;
//                                snapshot: the snapshot's ballot
//       36    8 ballot.node
//       44    n payload
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "synod/storage.h"
#include "synod/types.h"
#include "synod/value.h"

namespace synod::storage {

inline constexpr std::size_t kRecordHeaderBytes = 44;
// The segment header payload starts with this, then the format version.
inline constexpr char kSegmentMagic[8] = {'S', 'Y', 'N', 'O', 'D', 'L', 'O', 'G'};
inline constexpr std::uint32_t kFormatVersion = 1;
// A recycled segment (LogOptions::recycle_segments): the records are those
// of version 1, but past the segment's last batch the file may still hold
// the records of the older segment it was (stale: batches below the
// header's). Its own version so that a release that does not know the rule
// refuses the segment rather than reading stale records as damage.
inline constexpr std::uint32_t kFormatVersionRecycled = 2;
inline constexpr std::size_t kSegmentHeaderPayloadBytes = 32;
inline constexpr std::size_t kSegmentHeaderRecordBytes =
    kRecordHeaderBytes + kSegmentHeaderPayloadBytes;
// Every write into a prewritten segment (zeroed ahead or recycled) runs on
// to a multiple of this many bytes in the file, with zeros
// (SegmentLog::pad_to_page). So after a clean end, a recycled segment holds
// zeros from the end of its last batch to the next such boundary, and
// anything else there was written after that batch (segment_scan.cc).
inline constexpr std::uint64_t kWritePadBytes = 4096;
// A format constant, not an option: recovery must read any log whatever
// options it is opened with. LogOptions::record_bytes_max is checked on save.
inline constexpr std::uint32_t kRecordPayloadBytesLimit = 1u << 30;

enum class RecordType : std::uint8_t {
  segment_header = 1,  // first record of every segment file
  entry = 2,           // one slot's accepted value
  hard_state = 3,      // promised ballot, commit, voting flag
  compaction = 4,      // slot: the host compacted below it (its snapshot covers the rest)
  snapshot = 5,        // names the snapshot file in effect; the atomic switch to it
  // GroupLog only (docs/storage.md, "Many groups in one log"): the records
  // after it, up to the end of its batch or the next group record, belong to
  // the group its slot field names.
  group = 6,
  // GroupLog only: the group its slot field names was removed; everything
  // recorded for it before is forgotten.
  group_removed = 7,
};
inline constexpr std::uint8_t kRecordTypeMax = 7;

namespace record_flag {
// The last record of its batch (one sync). Recovery keeps whole batches only.
inline constexpr std::uint8_t batch_end = 1;
// Hard state only: HardState::voting.
inline constexpr std::uint8_t voting = 2;
inline constexpr std::uint8_t known = batch_end | voting;
}  // namespace record_flag

struct RecordHeader {
  std::uint32_t payload_bytes = 0;
  std::uint32_t crc = 0;
  RecordType type = RecordType::entry;
  std::uint8_t flags = 0;
  std::uint8_t value_kind = 0;
  std::uint64_t batch = 0;
  Slot slot{};
  Ballot ballot{};

  bool batch_end() const { return (flags & record_flag::batch_end) != 0; }
};

struct SegmentHeader {
  std::uint64_t segment_seq = 0;    // equals the number in the file name
  std::uint64_t segment_bytes = 0;  // the roll size it was created with (informational)
  // The file was zeroed to its size and synced before the header went in
  // (Preallocation::write_zeros). Kept in the header record's slot field,
  // which segment headers did not use and earlier releases neither check
  // nor read: bit 0; the other bits are written 0 and ignored.
  bool zeroed = false;
  // The file held an older segment of this log (kFormatVersionRecycled):
  // its blocks are written, as a zeroed one's are, but past the last batch
  // they hold that segment's stale records, every one of a batch below
  // this header's. Never with zeroed.
  bool recycled = false;
};
inline constexpr std::uint64_t kSegmentZeroedBit = 1;

// Bytes an entry's record takes on disk.
std::size_t entry_record_bytes(const Entry& e);
inline constexpr std::size_t kHardStateRecordBytes = kRecordHeaderBytes;

// Each appends one complete record (header, CRC, payload) to out.
void append_entry(std::vector<std::byte>& out, const Entry& e, std::uint64_t batch, bool batch_end);
void append_hard_state(std::vector<std::byte>& out, const HardState& hs, std::uint64_t batch,
                       bool batch_end);
void append_segment_header(std::vector<std::byte>& out, const SegmentHeader& sh,
                           std::uint64_t batch);
void append_compaction(std::vector<std::byte>& out, Slot below, std::uint64_t batch,
                       bool batch_end);
inline constexpr std::size_t kCompactionRecordBytes = kRecordHeaderBytes;
// A group or group_removed record (header only) naming `group`.
void append_group_record(std::vector<std::byte>& out, RecordType type, GroupId group,
                         std::uint64_t batch, bool batch_end);
inline constexpr std::size_t kGroupRecordBytes = kRecordHeaderBytes;

// A snapshot record: from this record on, the snapshot in effect is the file
// snapshot_file_name(slot) of exactly file_bytes bytes whose header CRC is
// file_crc, and no entry below keep_from exists. Payload: u64 keep_from,
// u64 file_bytes, u32 file_crc, u32 0.
struct SnapshotRecord {
  Slot slot{};
  Ballot ballot{};
  // Invariant: keep_from <= slot + 1; never decreases from one record to the
  // next (LogStorage writes the highest keep_from saved so far).
  Slot keep_from{};
  std::uint64_t file_bytes = 0;
  std::uint32_t file_crc = 0;
  friend bool operator==(const SnapshotRecord&, const SnapshotRecord&) = default;
};
inline constexpr std::size_t kSnapshotPayloadBytes = 24;
inline constexpr std::size_t kSnapshotRecordBytes = kRecordHeaderBytes + kSnapshotPayloadBytes;
void append_snapshot(std::vector<std::byte>& out, const SnapshotRecord& s, std::uint64_t batch,
                     bool batch_end);

enum class DecodeStatus : std::uint8_t {
  ok = 0,
  zero,         // the header bytes are all zero: never-written (preallocated) space
  short_read,   // the record runs past the end of the bytes given
  invalid,      // a header field is out of range (type, flags, length, reserved)
  bad_crc,      // the checksum does not match
  bad_payload,  // checksum matches but the payload does not parse
  // Never from decode_record: scan_segment's reason for ending a recycled
  // segment's chain at a valid record of a batch below its header's.
  stale,
};
const char* describe(DecodeStatus s);

struct DecodedRecord {
  RecordHeader header;
  std::span<const std::byte> payload;
  std::size_t record_bytes = 0;  // header + payload
};

// Decodes the record at the start of `bytes` (which run to the end of the
// segment) and verifies its checksum and payload structure.
DecodeStatus decode_record(std::span<const std::byte> bytes, DecodedRecord* out);

// Payload parsers. Precondition: decode_record returned ok for the record.
Entry entry_of(const DecodedRecord& r);
HardState hard_state_of(const DecodedRecord& r);
SegmentHeader segment_header_of(const DecodedRecord& r);
SnapshotRecord snapshot_record_of(const DecodedRecord& r);

}  // namespace synod::storage
