#include "snapshot_image.h"

#include <algorithm>
#include <cstring>

#include "assert.h"

namespace synod::detail {

namespace {

constexpr std::uint32_t kMagic = 0x534e5953;  // "SYNS", little-endian
constexpr std::uint32_t kVersion = 2;
// Far above any real cluster (64 voters) yet small enough that a bad count
// cannot make the decoder allocate much.
constexpr std::uint32_t kMembersMax = 1024;

void put(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class Reader {
 public:
  Reader(const std::string& s, std::size_t pos, std::size_t end) : s_(s), pos_(pos), end_(end) {}
  bool get(std::uint64_t* v, int bytes) {
    if (end_ - pos_ < static_cast<std::size_t>(bytes)) return false;
    *v = 0;
    for (int i = 0; i < bytes; ++i)
      *v |= std::uint64_t{static_cast<unsigned char>(s_[pos_ + i])} << (8 * i);
    pos_ += bytes;
    return true;
  }
  bool ids(std::vector<NodeId>* out) {
    std::uint64_t n;
    if (!get(&n, 4) || n > kMembersMax) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t id;
      if (!get(&id, 8)) return false;
      out->push_back(NodeId{id});
    }
    return true;
  }
  bool at_end() const { return pos_ == end_; }

 private:
  const std::string& s_;
  std::size_t pos_;
  std::size_t end_;
};

// FNV-1a over 8-byte words: not cryptographic, only to tell two images apart.
std::uint64_t digest_of(const char* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
  }
  for (; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ULL;
  return h ^ n;
}

}  // namespace

std::string encode_trailer(const SnapshotMeta& meta, const std::string& data) {
  // decode_image refuses an image of slot 0 or without voters: a snapshot
  // this replica holds (taken or installed) has both.
  SYNOD_ASSERT(meta.slot.value != 0 && !meta.membership.voters.empty(),
               "encoding snapshot {} with {} voters", meta.slot.value,
               meta.membership.voters.size());
  std::string t;
  put(t, kVersion, 4);
  put(t, digest_of(data.data(), data.size()), 8);
  put(t, meta.slot.value, 8);
  put(t, meta.ballot.round, 8);
  put(t, meta.ballot.node.value, 8);
  put(t, meta.membership.voters.size(), 4);
  for (NodeId v : meta.membership.voters) put(t, v.value, 8);
  put(t, meta.membership.learners.size(), 4);
  for (NodeId v : meta.membership.learners) put(t, v.value, 8);
  put(t, meta.pending_from.value, 8);
  put(t, meta.pending.voters.size(), 4);
  for (NodeId v : meta.pending.voters) put(t, v.value, 8);
  put(t, meta.pending.learners.size(), 4);
  for (NodeId v : meta.pending.learners) put(t, v.value, 8);
  std::uint64_t meta_len = t.size();
  // The length field is 4 bytes; members are bounded by kMemberIdCapacity.
  SYNOD_ASSERT(meta_len <= 0xffffffffu, "snapshot metadata of {} bytes", meta_len);
  put(t, meta_len, 4);
  put(t, kMagic, 4);
  return t;
}

std::string image_bytes(const Snapshot& snap, const std::string& trailer, std::uint64_t offset,
                        std::uint64_t len) {
  const std::string& data = *snap.data;
  const std::uint64_t asked = len;
  std::string out;
  std::uint64_t total = data.size() + trailer.size();
  if (offset >= total) return out;
  len = std::min(len, total - offset);
  out.reserve(len);
  if (offset < data.size()) {
    std::uint64_t n = std::min<std::uint64_t>(len, data.size() - offset);
    out.append(data, offset, n);
    offset += n;
    len -= n;
  }
  if (len > 0) out.append(trailer, offset - data.size(), len);
  // A chunk fits the message bound it was cut for.
  SYNOD_ASSERT(out.size() <= asked, "chunk of {} bytes for {} asked", out.size(), asked);
  return out;
}

std::optional<Snapshot> decode_image(std::string image) {
  if (image.size() < 8) return std::nullopt;
  Reader tail(image, image.size() - 8, image.size());
  std::uint64_t meta_len, magic;
  if (!tail.get(&meta_len, 4) || !tail.get(&magic, 4) || magic != kMagic) return std::nullopt;
  if (meta_len > image.size() - 8) return std::nullopt;
  std::size_t meta_at = image.size() - 8 - meta_len;
  Reader r(image, meta_at, image.size() - 8);
  std::uint64_t version, digest, slot, round, node, pending_from;
  SnapshotMeta meta;
  if (!r.get(&version, 4) || version != kVersion || !r.get(&digest, 8) || !r.get(&slot, 8) ||
      !r.get(&round, 8) || !r.get(&node, 8) || !r.ids(&meta.membership.voters) ||
      !r.ids(&meta.membership.learners) || !r.get(&pending_from, 8) ||
      !r.ids(&meta.pending.voters) || !r.ids(&meta.pending.learners) || !r.at_end() || slot == 0 ||
      meta.membership.voters.empty())
    return std::nullopt;
  meta.pending_from = Slot{pending_from};
  if (digest_of(image.data(), meta_at) != digest) return std::nullopt;
  meta.slot = Slot{slot};
  meta.ballot = Ballot{round, NodeId{node}};
  image.resize(meta_at);
  return Snapshot::of(std::move(meta), std::move(image));
}

}  // namespace synod::detail
