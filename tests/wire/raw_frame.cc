#include "raw_frame.h"

#include "crc32c.h"
#include "framing.h"
#include "synod/wire.h"
#include "synod_generated.h"

namespace synod::wire::test {

namespace {

namespace fb = synod::wire::fb;
using flatbuffers::FieldIndexToOffset;

// Field ids past the end of the current schema (Message has 0..14, Entry 0..4).
constexpr flatbuffers::voffset_t kNewMessageScalar = 17;
constexpr flatbuffers::voffset_t kNewMessageTable = 18;
constexpr flatbuffers::voffset_t kNewEntryScalar = 5;
constexpr flatbuffers::voffset_t kNewEntryString = 6;

flatbuffers::Offset<fb::Entry> entry(flatbuffers::FlatBufferBuilder& fbb, const Entry& e,
                                     const RawOptions& o) {
  std::vector<std::uint32_t> lengths;
  std::vector<std::uint8_t> bytes;
  for (std::string_view c : e.value.commands()) {
    lengths.push_back(static_cast<std::uint32_t>(c.size()));
    bytes.insert(bytes.end(), c.begin(), c.end());
  }
  const bool has = e.value.kind() == ValueKind::commands;
  auto l = has ? fbb.CreateVector(lengths) : 0;
  auto d = has ? fbb.CreateVector(bytes) : 0;
  auto note = o.newer_fields ? fbb.CreateString("from the future") : 0;
  const fb::Ballot ballot(e.ballot.round, e.ballot.node.value);
  fb::EntryBuilder b(fbb);
  b.add_slot(e.slot.value);
  b.add_ballot(&ballot);
  b.add_kind(
      static_cast<fb::ValueKind>(o.kind.value_or(static_cast<std::uint8_t>(e.value.kind()))));
  if (has) b.add_command_lengths(l), b.add_command_bytes(d);
  if (o.newer_fields) {
    b.fbb_.AddElement<std::uint32_t>(FieldIndexToOffset(kNewEntryScalar), 0xC0FFEE, 0);
    b.fbb_.AddOffset(FieldIndexToOffset(kNewEntryString), note);
  }
  return b.Finish();
}

}  // namespace

std::vector<std::uint8_t> raw_flatbuffer(const Message& m, const RawOptions& o) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fb::Entry>> es;
  for (const Entry& e : m.entries) es.push_back(entry(fbb, e, o));
  auto entries = m.entries.empty() ? 0 : fbb.CreateVector(es);
  auto payload = m.payload.empty()
                     ? 0
                     : fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(m.payload.data()),
                                        m.payload.size());
  std::vector<fb::GroupBeat> gb;
  for (const GroupBeat& g : m.beats)
    gb.emplace_back(g.group.value, g.ballot.round, g.ballot.node.value, g.slot.value,
                    g.commit.value, static_cast<fb::MessageType>(g.type), g.quiesce);
  auto beats = m.beats.empty() ? 0 : fbb.CreateVectorOfStructs(gb);
  flatbuffers::Offset<void> future;
  if (o.newer_fields) {
    const flatbuffers::uoffset_t start = fbb.StartTable();
    fbb.AddElement<std::uint64_t>(FieldIndexToOffset(0), 99, 0);
    future = flatbuffers::Offset<void>(fbb.EndTable(start));
  }
  const fb::Ballot ballot(m.ballot.round, m.ballot.node.value);
  fb::MessageBuilder b(fbb);
  b.add_version(o.version.value_or(wire_version));
  b.add_type(static_cast<fb::MessageType>(o.type.value_or(static_cast<std::uint8_t>(m.type))));
  b.add_group(m.group.value);
  b.add_from(m.from.value);
  b.add_to(m.to.value);
  b.add_ballot(&ballot);
  b.add_slot(m.slot.value);
  b.add_slot_end(m.slot_end.value);
  b.add_commit(m.commit.value);
  b.add_more(m.more);
  b.add_force(m.force);
  b.add_reject(m.reject);
  if (m.quiesce) b.add_quiesce(true);
  if (!m.beats.empty()) b.add_beats(beats);
  if (!m.entries.empty()) b.add_entries(entries);
  b.add_offset(m.offset);
  if (!m.payload.empty()) b.add_payload(payload);
  if (o.newer_fields) {
    b.fbb_.AddElement<std::uint64_t>(FieldIndexToOffset(kNewMessageScalar), 0xFEEDFACE, 0);
    b.fbb_.AddOffset(FieldIndexToOffset(kNewMessageTable), future);
  }
  fbb.Finish(b.Finish(), fb::MessageIdentifier());
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

std::vector<std::uint8_t> frame_of(std::span<const std::uint8_t> flatbuffer) {
  std::vector<std::uint8_t> out;
  detail::put_u32_le(out, static_cast<std::uint32_t>(flatbuffer.size()));
  detail::put_u32_le(out, detail::crc32c(0, flatbuffer));
  out.insert(out.end(), flatbuffer.begin(), flatbuffer.end());
  return out;
}

std::vector<std::uint8_t> raw_frame(const Message& m, const RawOptions& o) {
  return frame_of(raw_flatbuffer(m, o));
}

}  // namespace synod::wire::test
