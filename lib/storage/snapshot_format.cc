// Snapshot file header encoding and decoding. The CRC covers the data too, so
// one number (also kept in the log's snapshot record) vouches for the file.
#include "snapshot_format.h"

#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <initializer_list>

#include "byte_order.h"
#include "crc32c.h"

namespace synod::storage {
namespace {

constexpr std::string_view kPrefix = "snapshot-";
constexpr std::string_view kSuffix = ".snap";
constexpr std::size_t kDigits = 20;

std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

std::string snapshot_file_name(Slot slot) {
  return fmt::format("{}{:020}{}", kPrefix, slot.value, kSuffix);
}

bool parse_snapshot_file_name(std::string_view name, Slot* slot) {
  if (name.size() != kPrefix.size() + kDigits + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix))
    return false;
  std::string_view digits = name.substr(kPrefix.size(), kDigits);
  for (char c : digits)
    if (c < '0' || c > '9') return false;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), slot->value);
  return ec == std::errc{} && end == digits.data() + digits.size();
}

std::uint32_t snapshot_crc(std::span<const std::byte> header, std::string_view data) {
  std::uint32_t c = crc32c(header.first(12));
  c = crc32c_extend(c, header.subspan(16));
  return crc32c_extend(c, bytes_of(data));
}

std::vector<std::byte> encode_snapshot_header(const SnapshotMeta& meta, std::string_view data,
                                              std::uint32_t* crc) {
  const Membership& m = meta.membership;
  const Membership& pm = meta.pending;
  std::vector<std::byte> h(kSnapshotFixedBytes + 8 * (m.voters.size() + m.learners.size() +
                                                      pm.voters.size() + pm.learners.size()));
  std::byte* p = h.data();
  std::memcpy(p, kSnapshotMagic, sizeof kSnapshotMagic);
  put32(p + 8, kSnapshotVersion);
  put64(p + 16, meta.slot.value);
  put64(p + 24, meta.ballot.round);
  put64(p + 32, meta.ballot.node.value);
  put64(p + 40, data.size());
  put32(p + 48, static_cast<std::uint32_t>(m.voters.size()));
  put32(p + 52, static_cast<std::uint32_t>(m.learners.size()));
  put64(p + 56, meta.pending_from.value);
  put32(p + 64, static_cast<std::uint32_t>(pm.voters.size()));
  put32(p + 68, static_cast<std::uint32_t>(pm.learners.size()));
  p += kSnapshotFixedBytes;
  for (const std::vector<NodeId>* ids : {&m.voters, &m.learners, &pm.voters, &pm.learners}) {
    for (NodeId id : *ids) {
      put64(p, id.value);
      p += 8;
    }
  }
  *crc = snapshot_crc(h, data);
  put32(h.data() + 12, *crc);
  return h;
}

bool decode_snapshot_fixed(std::span<const std::byte> fixed, std::uint64_t file_bytes,
                           SnapshotHeader* out, std::string* why) {
  if (fixed.size() < kSnapshotFixedBytes) {
    *why = fmt::format("{} bytes, shorter than a snapshot header", file_bytes);
    return false;
  }
  const std::byte* p = fixed.data();
  if (std::memcmp(p, kSnapshotMagic, sizeof kSnapshotMagic) != 0) {
    *why = "not a snapshot file (bad magic)";
    return false;
  }
  if (std::uint32_t v = get32(p + 8); v != kSnapshotVersion) {
    *why = fmt::format("unknown snapshot format version {}", v);
    return false;
  }
  SnapshotHeader h;
  h.crc = get32(p + 12);
  h.meta.slot = Slot{get64(p + 16)};
  h.meta.ballot = Ballot{get64(p + 24), NodeId{get64(p + 32)}};
  h.data_bytes = get64(p + 40);
  std::uint64_t voters = get32(p + 48);
  std::uint64_t learners = get32(p + 52);
  h.meta.pending_from = Slot{get64(p + 56)};
  std::uint64_t pending_voters = get32(p + 64);
  std::uint64_t pending_learners = get32(p + 68);
  // Checked in 64 bits before anything is allocated: the counts are below
  // 2^34 ids together, so the sum cannot overflow.
  std::uint64_t header_bytes =
      kSnapshotFixedBytes + 8 * (voters + learners + pending_voters + pending_learners);
  if (header_bytes > file_bytes || file_bytes - header_bytes != h.data_bytes) {
    *why = fmt::format("{} bytes, but its header says {} + {} data bytes", file_bytes, header_bytes,
                       h.data_bytes);
    return false;
  }
  if (h.meta.slot.value == 0) {
    *why = "the header names slot 0";
    return false;
  }
  h.header_bytes = static_cast<std::size_t>(header_bytes);
  h.meta.membership.voters.resize(static_cast<std::size_t>(voters));
  h.meta.membership.learners.resize(static_cast<std::size_t>(learners));
  h.meta.pending.voters.resize(static_cast<std::size_t>(pending_voters));
  h.meta.pending.learners.resize(static_cast<std::size_t>(pending_learners));
  *out = std::move(h);
  return true;
}

void decode_snapshot_members(std::span<const std::byte> header, SnapshotHeader* out) {
  const std::byte* p = header.data() + kSnapshotFixedBytes;
  Membership& m = out->meta.membership;
  Membership& pm = out->meta.pending;
  for (std::vector<NodeId>* ids : {&m.voters, &m.learners, &pm.voters, &pm.learners}) {
    for (NodeId& id : *ids) {
      id = NodeId{get64(p)};
      p += 8;
    }
  }
}

}  // namespace synod::storage
