// Message -> frame. The encoder runs the decoder's rules first, so a bug that
// builds a bad message shows at the sender instead of as a silent drop at
// every peer.
#include <fmt/format.h>

#include <cstring>

#include "crc32c.h"
#include "framing.h"
#include "rules.h"
#include "synod_generated.h"

namespace synod::wire {

namespace {

namespace fb = synod::wire::fb;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

fb::Ballot to_fb(Ballot b) { return fb::Ballot(b.round, b.node.value); }

// The schema mirrors the core's enums value for value, so the codec converts
// by cast; these catch a renumbering on either side.
constexpr bool same(MessageType a, fb::MessageType b) {
  return static_cast<unsigned>(a) == static_cast<unsigned>(b);
}
static_assert(same(MessageType::prepare, fb::MessageType::prepare) &&
              same(MessageType::promise, fb::MessageType::promise) &&
              same(MessageType::accept, fb::MessageType::accept) &&
              same(MessageType::accepted, fb::MessageType::accepted) &&
              same(MessageType::heartbeat, fb::MessageType::heartbeat) &&
              same(MessageType::heartbeat_ack, fb::MessageType::heartbeat_ack) &&
              same(MessageType::reject, fb::MessageType::reject) &&
              same(MessageType::catchup_request, fb::MessageType::catchup_request) &&
              same(MessageType::catchup_reply, fb::MessageType::catchup_reply) &&
              same(MessageType::rejoin_query, fb::MessageType::rejoin_query) &&
              same(MessageType::rejoin_reply, fb::MessageType::rejoin_reply) &&
              same(MessageType::probe, fb::MessageType::probe) &&
              same(MessageType::probe_reply, fb::MessageType::probe_reply) &&
              same(MessageType::timeout_now, fb::MessageType::timeout_now) &&
              same(MessageType::snapshot_chunk, fb::MessageType::snapshot_chunk) &&
              same(MessageType::read_index_request, fb::MessageType::read_index_request) &&
              same(MessageType::read_index_reply, fb::MessageType::read_index_reply));
static_assert(
    static_cast<unsigned>(ValueKind::noop) == static_cast<unsigned>(fb::ValueKind::noop) &&
    static_cast<unsigned>(ValueKind::commands) == static_cast<unsigned>(fb::ValueKind::commands) &&
    static_cast<unsigned>(ValueKind::config) == static_cast<unsigned>(fb::ValueKind::config));

// Bytes the commands (data and lengths) and the snapshot payload alone take in
// the flatbuffer: a lower bound of the frame size.
std::size_t bulk_bytes(const Message& m) {
  std::size_t n = m.payload.size();
  for (const Entry& e : m.entries) n += 4 * e.value.commands().size() + e.value.byte_size();
  return n;
}

Offset<fb::Entry> build_entry(FlatBufferBuilder& fbb, const Entry& e) {
  Offset<flatbuffers::Vector<std::uint32_t>> lengths;
  Offset<flatbuffers::Vector<std::uint8_t>> bytes;
  if (!e.value.is_noop()) {
    const CommandsView commands = e.value.commands();
    std::uint32_t* len = nullptr;
    lengths = fbb.CreateUninitializedVector(commands.size(), &len);
    // Lengths were checked against command_bytes_max (a u32) by the rules.
    for (std::string_view c : commands) *len++ = static_cast<std::uint32_t>(c.size());
    std::uint8_t* out = nullptr;
    // The block holds the bytes back to back, as the frame does: one copy.
    const std::string_view all = commands.all_bytes();
    bytes = fbb.CreateUninitializedVector(all.size(), &out);
    if (!all.empty()) std::memcpy(out, all.data(), all.size());
  }
  const fb::Ballot ballot = to_fb(e.ballot);
  fb::EntryBuilder b(fbb);
  b.add_slot(e.slot.value);
  if (!e.ballot.is_zero()) b.add_ballot(&ballot);
  b.add_kind(static_cast<fb::ValueKind>(e.value.kind()));
  if (!lengths.IsNull()) b.add_command_lengths(lengths);
  if (!bytes.IsNull()) b.add_command_bytes(bytes);
  return b.Finish();
}

void build_message(FlatBufferBuilder& fbb, const Message& m) {
  // Naming every field of Message: a field added to it fails to compile here
  // until the schema and codec carry it too.
  const auto& [type, group, from, to, ballot, slot, slot_end, commit, more, force, quiesce, reject,
               entries, offset, payload, beats] = m;
  Offset<flatbuffers::Vector<Offset<fb::Entry>>> fb_entries;
  if (!entries.empty()) {
    std::vector<Offset<fb::Entry>> offsets;
    offsets.reserve(entries.size());
    for (const Entry& e : entries) offsets.push_back(build_entry(fbb, e));
    fb_entries = fbb.CreateVector(offsets);
  }
  Offset<flatbuffers::Vector<std::uint8_t>> fb_payload;
  if (!payload.empty())
    fb_payload =
        fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
  Offset<flatbuffers::Vector<const fb::GroupBeat*>> fb_beats;
  if (!beats.empty()) {
    std::vector<fb::GroupBeat> out;
    out.reserve(beats.size());
    for (const GroupBeat& g : beats)
      out.emplace_back(g.group.value, g.ballot.round, g.ballot.node.value, g.slot.value,
                       g.commit.value, static_cast<fb::MessageType>(g.type), g.quiesce);
    fb_beats = fbb.CreateVectorOfStructs(out);
  }
  const fb::Ballot fb_ballot = to_fb(ballot);
  fb::MessageBuilder b(fbb);
  b.add_version(wire_version);
  b.add_type(static_cast<fb::MessageType>(type));
  b.add_group(group.value);
  b.add_from(from.value);
  b.add_to(to.value);
  if (!ballot.is_zero()) b.add_ballot(&fb_ballot);
  b.add_slot(slot.value);
  b.add_slot_end(slot_end.value);
  b.add_commit(commit.value);
  b.add_more(more);
  b.add_force(force);
  b.add_reject(reject);
  if (quiesce) b.add_quiesce(true);
  if (!fb_beats.IsNull()) b.add_beats(fb_beats);
  if (!fb_entries.IsNull()) b.add_entries(fb_entries);
  b.add_offset(offset);
  if (!fb_payload.IsNull()) b.add_payload(fb_payload);
  fbb.Finish(b.Finish(), fb::MessageIdentifier());
}

Status fail(Status s, std::string text, std::string* why) {
  if (why) *why = std::move(text);
  return s;
}

// The builder each thread reuses: Clear() keeps its buffer, so a steady
// stream of frames of similar size allocates nothing and never regrows (a
// fresh builder per frame, sized by estimate, regrew and copied whole
// batches: 7 % of a synod-kv leader's instructions, docs/benchmarks.md).
class ReusedBuilder : public FlatBufferBuilder {
 public:
  ReusedBuilder() : FlatBufferBuilder(kInitialBytes) {}
  std::size_t capacity() const { return buf_.capacity(); }
  // Called before each frame: a buffer grown far past the usual frame (a
  // snapshot chunk, a catch-up) is given back rather than kept for ever.
  void prepare(std::size_t estimate) {
    if (capacity() > kKeepBytesMax && estimate <= kKeepBytesMax)
      Reset();
    else
      Clear();
  }

 private:
  static constexpr std::size_t kInitialBytes = 64 * 1024;
  static constexpr std::size_t kKeepBytesMax = 4u << 20;
};

// True when a and b encode to the same frame but for `to`: every other
// field equal (a batch's values compared by pointer first, so the accepts a
// leader sends each follower compare in a few instructions), and no payload
// or beats, which are never worth keeping. Naming every field, as
// build_message does.
bool same_but_destination(const Message& a, const Message& b) {
  const auto& [type, group, from, to, ballot, slot, slot_end, commit, more, force, quiesce, reject,
               entries, offset, payload, beats] = a;
  (void)to;
  return type == b.type && group == b.group && from == b.from && ballot == b.ballot &&
         slot == b.slot && slot_end == b.slot_end && commit == b.commit && more == b.more &&
         force == b.force && quiesce == b.quiesce && reject == b.reject && offset == b.offset &&
         payload.empty() && b.payload.empty() && beats.empty() && b.beats.empty() &&
         entries == b.entries;
}

// The frame in the builder (what encode_view handed out last on this
// thread), for reuse when the next message differs only in `to`: a leader's
// accept goes to every follower with the same entries, and building each
// copied the whole batch and checksummed it again (docs/benchmarks.md,
// "The leader's RESP path (sixth round)"). The bytes are those a fresh
// build gives: FlatBuffers writes `to` (a ulong, never 0, so never left
// out as a default) at the same place in both.
struct LastFrame {
  bool valid = false;
  Message message;            // shares the entries' batches with the caller's message
  std::size_t to_offset = 0;  // of `to` in the body (after the header)
};

void remember(LastFrame& last, const Message& m, const FlatBufferBuilder& fbb) {
  last.valid = false;
  // Only an accept goes to every peer alike. Remembering costs a copy of the
  // message (its entries vector, a reference per batch), which a catch-up
  // reply of thousands of entries would pay for nothing.
  if (m.type != MessageType::accept || !m.payload.empty() || !m.beats.empty()) return;
  const std::uint8_t* body = fbb.GetBufferPointer() + frame_header_bytes;
  const auto* table = flatbuffers::GetRoot<flatbuffers::Table>(body);
  const std::uint8_t* to = table->GetAddressOf(fb::Message::VT_TO);
  if (to == nullptr) return;
  last.to_offset = static_cast<std::size_t>(to - body);
  last.message = m;
  last.valid = true;
}

// Rewrites the builder's frame for m.to (same_but_destination holds) and
// patches its checksum.
void readdress(LastFrame& last, const Message& m, FlatBufferBuilder& fbb) {
  std::uint8_t* frame = fbb.GetBufferPointer();
  std::uint8_t* body = frame + frame_header_bytes;
  const std::size_t size = fbb.GetSize() - frame_header_bytes;
  std::uint8_t before[8], after[8];
  std::memcpy(before, body + last.to_offset, 8);
  for (int i = 0; i < 8; ++i) after[i] = static_cast<std::uint8_t>(m.to.value >> (8 * i));
  std::memcpy(body + last.to_offset, after, 8);
  std::uint32_t crc = 0;
  for (int i = 0; i < 4; ++i) crc |= std::uint32_t{frame[4 + i]} << (8 * i);
  crc = detail::crc32c_patch8(crc, size, last.to_offset, before, after);
  for (int i = 0; i < 4; ++i) frame[4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  last.message.to = m.to;
}

}  // namespace

Status encode_view(const Message& m, std::span<const std::uint8_t>* frame, const WireLimits& limits,
                   std::string* why) {
  *frame = {};
  if (DecodeResult r = detail::check_message(m, limits); r.status != Status::ok)
    return fail(r.status, std::move(r.error), why);
  // Refuse before building when the commands alone are over the limit: the
  // builder would otherwise copy them all first. (A payload over it was
  // refused by the rules, and never comes with commands.)
  const std::size_t bulk = bulk_bytes(m);
  if (bulk > detail::frame_max(limits)) {
    return fail(Status::oversized,
                fmt::format("commands take {} bytes, over frame_bytes_max {}", bulk,
                            detail::frame_max(limits)),
                why);
  }
  thread_local ReusedBuilder fbb;
  thread_local LastFrame last;
  if (last.valid && same_but_destination(last.message, m) &&
      fbb.GetSize() - frame_header_bytes <= detail::frame_max(limits)) {
    if (last.message.to != m.to) readdress(last, m, fbb);
    *frame = std::span<const std::uint8_t>(fbb.GetBufferPointer(), fbb.GetSize());
    return Status::ok;
  }
  last.valid = false;
  fbb.prepare(128 + 64 * m.entries.size() + bulk);
  build_message(fbb, m);
  const std::size_t size = fbb.GetSize();
  if (size > detail::frame_max(limits)) {
    return fail(Status::oversized,
                fmt::format("frame of {} bytes exceeds frame_bytes_max {}", size,
                            detail::frame_max(limits)),
                why);
  }
  // The header goes in front of the body inside the builder (it builds
  // downwards), so the frame is contiguous without a copy. Finish() left the
  // size a multiple of the builder's alignment: nothing is padded between.
  const std::uint32_t crc = detail::crc32c(0, std::span(fbb.GetBufferPointer(), size));
  std::uint8_t header[frame_header_bytes];
  static_assert(frame_header_bytes == 8);
  for (int i = 0; i < 4; ++i) {
    header[i] = static_cast<std::uint8_t>(size >> (8 * i));
    header[4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  }
  fbb.PushBytes(header, sizeof header);
  *frame = std::span<const std::uint8_t>(fbb.GetBufferPointer(), fbb.GetSize());
  remember(last, m, fbb);
  return Status::ok;
}

Status encode(const Message& m, std::vector<std::uint8_t>& out, const WireLimits& limits,
              std::string* why) {
  std::span<const std::uint8_t> frame;
  if (Status s = encode_view(m, &frame, limits, why); s != Status::ok) return s;
  out.insert(out.end(), frame.begin(), frame.end());
  return Status::ok;
}

}  // namespace synod::wire
