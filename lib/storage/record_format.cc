// Record encoding and verified decoding. Integers are little-endian whatever
// the host, written byte by byte, so the format is portable.
#include "record_format.h"

#include <algorithm>
#include <cstring>

#include "../core/assert.h"
#include "byte_order.h"
#include "crc32c.h"
#include "synod/membership.h"

namespace synod::storage {
namespace {

// The CRC skips its own field: bytes [0,4) then [8, end).
std::uint32_t record_crc(const std::byte* record, std::size_t record_bytes) {
  std::uint32_t c = crc32c({record, 4});
  return crc32c_extend(c, {record + 8, record_bytes - 8});
}

// Appends a header with a zero CRC, and a zeroed payload for the caller to
// fill unless `payload_follows` (the caller then appends exactly
// h.payload_bytes: an entry's commands, copied once rather than zeroed and
// then copied over); returns the record's offset in out.
std::size_t begin_record(std::vector<std::byte>& out, const RecordHeader& h,
                         bool payload_follows = false) {
  std::size_t at = out.size();
  const std::size_t end = at + kRecordHeaderBytes + h.payload_bytes;
  if (payload_follows) {
    // Grown geometrically, as resize() would: an exact reserve per record
    // would reallocate the whole batch on every append.
    if (out.capacity() < end) out.reserve(std::max(end, 2 * out.capacity()));
    out.resize(at + kRecordHeaderBytes);
  } else {
    out.resize(end);
  }
  std::byte* p = out.data() + at;
  put32(p, h.payload_bytes);
  put32(p + 4, 0);
  p[8] = std::byte(h.type);
  p[9] = std::byte(h.flags);
  p[10] = std::byte(h.value_kind);
  p[11] = std::byte(0);
  put64(p + 12, h.batch);
  put64(p + 20, h.slot.value);
  put64(p + 28, h.ballot.round);
  put64(p + 36, h.ballot.node.value);
  return at;
}

void finish_record(std::vector<std::byte>& out, std::size_t at) {
  std::byte* p = out.data() + at;
  put32(p + 4, record_crc(p, out.size() - at));
}

std::size_t value_payload_bytes(const Value& v) {
  if (v.is_noop()) return 0;
  return 4 + 4 * v.commands().size() + v.byte_size();
}

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// The payload of a commands value: u32 count, then per command u32 size and
// bytes, with nothing left over.
bool valid_commands(std::span<const std::byte> p) {
  if (p.size() < 4) return false;
  std::uint64_t count = get32(p.data());
  std::size_t at = 4;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (p.size() - at < 4) return false;
    std::size_t n = get32(p.data() + at);
    at += 4;
    if (p.size() - at < n) return false;
    at += n;
  }
  return at == p.size();
}

bool valid_payload(const RecordHeader& h, std::span<const std::byte> p) {
  if (h.type != RecordType::hard_state && (h.flags & record_flag::voting) != 0) return false;
  switch (h.type) {
    case RecordType::segment_header:
      return p.size() == kSegmentHeaderPayloadBytes &&
             std::memcmp(p.data(), kSegmentMagic, sizeof kSegmentMagic) == 0 &&
             (get32(p.data() + 8) == kFormatVersion ||
              get32(p.data() + 8) == kFormatVersionRecycled) &&
             get32(p.data() + 12) == 0;
    case RecordType::hard_state:
    case RecordType::compaction:
    case RecordType::group:
    case RecordType::group_removed:
      return p.empty() && h.value_kind == 0;
    case RecordType::snapshot: {
      // No snapshot at slot 0 (it means "none"), and keep_from <= slot + 1.
      if (p.size() != kSnapshotPayloadBytes || h.value_kind != 0 || h.slot.value == 0) return false;
      std::uint64_t keep_from = get64(p.data());
      bool keep_ok = keep_from <= h.slot.value || keep_from - 1 == h.slot.value;
      return keep_ok && get32(p.data() + 20) == 0;
    }
    case RecordType::entry:
      if (h.value_kind == std::uint8_t(ValueKind::noop)) return p.empty();
      if (h.value_kind == std::uint8_t(ValueKind::commands)) return valid_commands(p);
      // A configuration: one command, a well-formed membership.
      if (h.value_kind == std::uint8_t(ValueKind::config))
        return valid_commands(p) && get32(p.data()) == 1 &&
               decode_membership(std::string_view(reinterpret_cast<const char*>(p.data()) + 8,
                                                  get32(p.data() + 4)))
                   .has_value();
      return false;
  }
  return false;
}

}  // namespace

std::size_t entry_record_bytes(const Entry& e) {
  return kRecordHeaderBytes + value_payload_bytes(e.value);
}

void append_entry(std::vector<std::byte>& out, const Entry& e, std::uint64_t batch,
                  bool batch_end) {
  RecordHeader h;
  h.payload_bytes = static_cast<std::uint32_t>(value_payload_bytes(e.value));
  h.type = RecordType::entry;
  h.flags = batch_end ? record_flag::batch_end : 0;
  h.value_kind = std::uint8_t(e.value.kind());
  h.batch = batch;
  h.slot = e.slot;
  h.ballot = e.ballot;
  std::size_t at = begin_record(out, h, /*payload_follows=*/true);
  if (!e.value.is_noop()) {
    std::byte u32[4];
    auto append_u32 = [&](std::size_t v) {
      put32(u32, static_cast<std::uint32_t>(v));
      out.insert(out.end(), u32, u32 + 4);
    };
    append_u32(e.value.commands().size());
    for (std::string_view c : e.value.commands()) {
      append_u32(c.size());
      const auto* bytes = reinterpret_cast<const std::byte*>(c.data());
      out.insert(out.end(), bytes, bytes + c.size());
    }
  }
  // The header's length must be what was appended, or the record and every
  // one after it in the batch would read as torn.
  SYNOD_ASSERT(out.size() - at == kRecordHeaderBytes + h.payload_bytes,
               "entry record of {} bytes, header says {}", out.size() - at,
               kRecordHeaderBytes + h.payload_bytes);
  finish_record(out, at);
}

void append_hard_state(std::vector<std::byte>& out, const HardState& hs, std::uint64_t batch,
                       bool batch_end) {
  RecordHeader h;
  h.type = RecordType::hard_state;
  h.flags = std::uint8_t((batch_end ? record_flag::batch_end : 0) |
                         (hs.voting ? record_flag::voting : 0));
  h.batch = batch;
  h.slot = hs.commit;
  h.ballot = hs.promised;
  finish_record(out, begin_record(out, h));
}

void append_segment_header(std::vector<std::byte>& out, const SegmentHeader& sh,
                           std::uint64_t batch) {
  RecordHeader h;
  h.payload_bytes = kSegmentHeaderPayloadBytes;
  h.type = RecordType::segment_header;
  h.flags = record_flag::batch_end;  // a segment header is a batch of its own
  h.batch = batch;
  h.slot = Slot{sh.zeroed ? kSegmentZeroedBit : 0};
  std::size_t at = begin_record(out, h);
  std::byte* p = out.data() + at + kRecordHeaderBytes;
  std::memcpy(p, kSegmentMagic, sizeof kSegmentMagic);
  put32(p + 8, sh.recycled ? kFormatVersionRecycled : kFormatVersion);
  put32(p + 12, 0);
  put64(p + 16, sh.segment_seq);
  put64(p + 24, sh.segment_bytes);
  finish_record(out, at);
}

namespace {

// A record that is all header: its meaning is its type and slot field.
void append_marker(std::vector<std::byte>& out, RecordType type, Slot slot, std::uint64_t batch,
                   bool batch_end) {
  RecordHeader h;
  h.type = type;
  h.flags = batch_end ? record_flag::batch_end : 0;
  h.batch = batch;
  h.slot = slot;
  finish_record(out, begin_record(out, h));
}

}  // namespace

void append_compaction(std::vector<std::byte>& out, Slot below, std::uint64_t batch,
                       bool batch_end) {
  append_marker(out, RecordType::compaction, below, batch, batch_end);
}

void append_group_record(std::vector<std::byte>& out, RecordType type, GroupId group,
                         std::uint64_t batch, bool batch_end) {
  append_marker(out, type, Slot{group.value}, batch, batch_end);
}

void append_snapshot(std::vector<std::byte>& out, const SnapshotRecord& s, std::uint64_t batch,
                     bool batch_end) {
  RecordHeader h;
  h.payload_bytes = kSnapshotPayloadBytes;
  h.type = RecordType::snapshot;
  h.flags = batch_end ? record_flag::batch_end : 0;
  h.batch = batch;
  h.slot = s.slot;
  h.ballot = s.ballot;
  std::size_t at = begin_record(out, h);
  std::byte* p = out.data() + at + kRecordHeaderBytes;
  put64(p, s.keep_from.value);
  put64(p + 8, s.file_bytes);
  put32(p + 16, s.file_crc);
  put32(p + 20, 0);
  finish_record(out, at);
}

const char* describe(DecodeStatus s) {
  switch (s) {
    case DecodeStatus::ok:
      return "valid record";
    case DecodeStatus::zero:
      return "zeroed header";
    case DecodeStatus::short_read:
      return "record runs past the end of the file";
    case DecodeStatus::invalid:
      return "invalid record header";
    case DecodeStatus::bad_crc:
      return "checksum mismatch";
    case DecodeStatus::bad_payload:
      return "malformed payload under a valid checksum";
    case DecodeStatus::stale:
      return "a record of the recycled file's older segment";
  }
  return "?";
}

DecodeStatus decode_record(std::span<const std::byte> bytes, DecodedRecord* out) {
  if (bytes.size() < kRecordHeaderBytes)
    return all_zero(bytes) ? DecodeStatus::zero : DecodeStatus::short_read;
  const std::byte* p = bytes.data();
  if (all_zero({p, kRecordHeaderBytes})) return DecodeStatus::zero;
  RecordHeader h;
  h.payload_bytes = get32(p);
  h.crc = get32(p + 4);
  std::uint8_t type = std::uint8_t(p[8]);
  h.flags = std::uint8_t(p[9]);
  h.value_kind = std::uint8_t(p[10]);
  if (type < 1 || type > kRecordTypeMax || (h.flags & ~record_flag::known) != 0 ||
      p[11] != std::byte{0} || h.payload_bytes > kRecordPayloadBytesLimit)
    return DecodeStatus::invalid;
  h.type = RecordType(type);
  h.batch = get64(p + 12);
  h.slot = Slot{get64(p + 20)};
  h.ballot = Ballot{get64(p + 28), NodeId{get64(p + 36)}};
  std::size_t record_bytes = kRecordHeaderBytes + h.payload_bytes;
  if (bytes.size() < record_bytes) return DecodeStatus::short_read;
  if (record_crc(p, record_bytes) != h.crc) return DecodeStatus::bad_crc;
  std::span<const std::byte> payload{p + kRecordHeaderBytes, h.payload_bytes};
  if (!valid_payload(h, payload)) return DecodeStatus::bad_payload;
  *out = DecodedRecord{h, payload, record_bytes};
  return DecodeStatus::ok;
}

Entry entry_of(const DecodedRecord& r) {
  Entry e{r.header.slot, r.header.ballot, Value::noop()};
  if (r.header.value_kind == std::uint8_t(ValueKind::noop)) return e;
  const std::byte* p = r.payload.data();
  std::uint32_t count = get32(p);
  p += 4;
  // One block for the batch: the payload's size bounds its commands' bytes
  // (valid_payload checked every length against it), so one reservation.
  ValueBuilder block(static_cast<ValueKind>(r.header.value_kind));
  block.reserve(count, r.payload.size() - 4 - 4 * std::size_t{count});
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t n = get32(p);
    block.append({reinterpret_cast<const char*>(p + 4), n});
    p += 4 + n;
  }
  e.value = block.finish();
  return e;
}

HardState hard_state_of(const DecodedRecord& r) {
  return HardState{r.header.ballot, r.header.slot, (r.header.flags & record_flag::voting) != 0};
}

SegmentHeader segment_header_of(const DecodedRecord& r) {
  return SegmentHeader{get64(r.payload.data() + 16), get64(r.payload.data() + 24),
                       (r.header.slot.value & kSegmentZeroedBit) != 0,
                       get32(r.payload.data() + 8) == kFormatVersionRecycled};
}

SnapshotRecord snapshot_record_of(const DecodedRecord& r) {
  const std::byte* p = r.payload.data();
  return SnapshotRecord{r.header.slot, r.header.ballot, Slot{get64(p)}, get64(p + 8),
                        get32(p + 16)};
}

}  // namespace synod::storage
