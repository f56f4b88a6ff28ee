// Frame -> Message. Order of checks: length and checksum (framing.cc), then
// identifier, version and entry count on a minimal verification (a newer
// layout must be refused by version, not misread), then the full
// FlatBuffers Verifier, then conversion with per-count limits checked before
// each allocation, then the message rules (rules.cc).
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "framing.h"
#include "rules.h"
#include "synod/membership.h"
#include "synod_generated.h"

namespace synod::wire {

namespace {

namespace fb = synod::wire::fb;
using detail::refuse;

// Identifier, version and entry count, read with the verifier's primitives
// from a minimal verification: the generated Verify() would check fields
// whose layout only the current version defines, and the entry count bounds
// the full verifier's table budget.
DecodeResult check_header(const std::uint8_t* buf, std::size_t size, const WireLimits& limits) {
  if (size < 2 * sizeof(flatbuffers::uoffset_t) || !fb::MessageBufferHasIdentifier(buf))
    return refuse(Status::malformed, WireError::bad_buffer,
                  "not a synod frame (no SYNW file identifier)", 0);
  flatbuffers::Verifier v(buf, size);
  const flatbuffers::uoffset_t root = v.VerifyOffset(0);
  const auto* table = reinterpret_cast<const flatbuffers::Table*>(buf + root);
  if (root == 0 || !table->VerifyTableStart(v) ||
      !table->VerifyField<std::uint16_t>(v, fb::Message::VT_VERSION, sizeof(std::uint16_t)))
    return refuse(Status::malformed, WireError::bad_buffer, "the root table is damaged", 0);
  const std::uint16_t version = table->GetField<std::uint16_t>(fb::Message::VT_VERSION, 0);
  if (version == 0)
    return refuse(Status::malformed, WireError::bad_buffer, "the frame carries no version", 0);
  if (version < wire_version_min || version > wire_version) {
    return refuse(Status::malformed, WireError::unsupported_version,
                  fmt::format("wire version {} is not supported (this build reads {} to {})",
                              version, wire_version_min, wire_version),
                  0);
  }
  using Entries = flatbuffers::Vector<flatbuffers::Offset<fb::Entry>>;
  if (!table->VerifyOffset(v, fb::Message::VT_ENTRIES))
    return refuse(Status::malformed, WireError::bad_buffer, "the entries offset is damaged", 0);
  const auto* entries = table->GetPointer<const Entries*>(fb::Message::VT_ENTRIES);
  if (!v.VerifyVector(entries))
    return refuse(Status::malformed, WireError::bad_buffer, "the entries vector is damaged", 0);
  if (entries && entries->size() > limits.entries_max) {
    return refuse(
        Status::oversized, WireError::oversized,
        fmt::format("{} entries exceed entries_max {}", entries->size(), limits.entries_max), 0);
  }
  return {};
}

// What conversion has allocated so far, against the limits. Tables may be
// shared in a hostile flatbuffer (one command run referenced by every entry,
// or by the payload too), so decoded bytes are bounded by the frame size,
// never by what vectors claim.
struct Budget {
  std::size_t commands = 0;
  std::size_t bytes = 0;
};

DecodeResult to_value(const fb::Entry& e, const WireLimits& limits, std::size_t frame_size,
                      Budget& budget, Value& out) {
  const auto kind = static_cast<ValueKind>(e.kind());
  if (!detail::known_kind(kind))
    return refuse(
        Status::malformed, WireError::unknown_type,
        fmt::format("unknown value kind {} at slot {}", static_cast<unsigned>(e.kind()), e.slot()),
        0);
  const auto* lengths = e.command_lengths();
  const auto* bytes = e.command_bytes();
  const std::size_t n = lengths ? lengths->size() : 0;
  const std::size_t size = bytes ? bytes->size() : 0;
  if (kind == ValueKind::noop) {
    if (n != 0 || size != 0)
      return refuse(Status::malformed, WireError::invalid,
                    fmt::format("a noop at slot {} carries commands", e.slot()), 0);
    out = Value::noop();
    return {};
  }
  budget.commands += n;
  if (budget.commands > limits.commands_max)
    return refuse(Status::oversized, WireError::oversized,
                  fmt::format("more than commands_max {} commands", limits.commands_max), 0);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t len = lengths->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (len > limits.command_bytes_max)
      return refuse(Status::oversized, WireError::oversized,
                    fmt::format("a command of {} bytes at slot {} exceeds command_bytes_max {}",
                                len, e.slot(), limits.command_bytes_max),
                    0);
    sum += len;
  }
  if (sum != size)
    return refuse(Status::malformed, WireError::invalid,
                  fmt::format("at slot {} command lengths sum to {} but {} bytes follow", e.slot(),
                              sum, size),
                  0);
  budget.bytes += size;
  if (budget.bytes > frame_size)
    return refuse(Status::malformed, WireError::invalid,
                  "entries or the payload share bytes (decoded size exceeds the frame)", 0);
  // One block for the batch, its size known up front: no string per command.
  ValueBuilder block(kind);
  block.reserve(n, size);
  const auto* at = reinterpret_cast<const char*>(bytes ? bytes->data() : nullptr);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t len = lengths->Get(static_cast<flatbuffers::uoffset_t>(i));
    block.append({at, len});
    at += len;
  }
  out = block.finish();
  if (kind == ValueKind::config && !membership_of(out))
    return refuse(Status::malformed, WireError::invalid,
                  fmt::format("a malformed configuration at slot {}", e.slot()), 0);
  return {};
}

Ballot from_fb(const fb::Ballot* b) { return b ? Ballot{b->round(), NodeId{b->node()}} : Ballot{}; }

DecodeResult to_message(const fb::Message& in, const WireLimits& limits, std::size_t frame_size,
                        Message& m) {
  m.type = static_cast<MessageType>(in.type());
  if (!detail::known_type(m.type))
    return refuse(Status::malformed, WireError::unknown_type,
                  fmt::format("unknown message type {}", static_cast<unsigned>(in.type())), 0);
  m.group = GroupId{in.group()};
  m.from = NodeId{in.from()};
  m.to = NodeId{in.to()};
  m.ballot = from_fb(in.ballot());
  m.slot = Slot{in.slot()};
  m.slot_end = Slot{in.slot_end()};
  m.commit = Slot{in.commit()};
  m.more = in.more();
  m.force = in.force();
  m.reject = in.reject();
  m.quiesce = in.quiesce();
  m.offset = in.offset();
  if (const auto* beats = in.beats()) {
    // The verifier bounded the vector by the frame; the limit is checked
    // before the copy.
    if (beats->size() > limits.beats_max)
      return refuse(
          Status::oversized, WireError::oversized,
          fmt::format("{} group beats exceed beats_max {}", beats->size(), limits.beats_max), 0);
    // The verifier checks a vector of structs for the alignment of its
    // length only; an encoder aligns the elements to their own 8 bytes (the
    // buffer is 8-aligned: decode_body), a forged frame may not, and reading
    // them there is undefined behaviour (found by synod-decode-fuzz).
    if (reinterpret_cast<std::uintptr_t>(beats->Data()) % alignof(fb::GroupBeat) != 0)
      return refuse(Status::malformed, WireError::bad_buffer,
                    "the group beats are not aligned to 8 bytes", 0);
    m.beats.reserve(beats->size());
    for (const fb::GroupBeat* g : *beats)
      m.beats.push_back(GroupBeat{static_cast<MessageType>(g->type()), GroupId{g->group()},
                                  Ballot{g->round(), NodeId{g->node()}}, Slot{g->slot()},
                                  Slot{g->commit()}, g->quiesce()});
  }
  Budget budget;
  // The verifier bounds the payload by the frame; counted so that entries
  // sharing its bytes cannot double the memory. Which types may carry it is
  // for the rules, below.
  if (const auto* payload = in.payload()) {
    budget.bytes = payload->size();
    m.payload.assign(reinterpret_cast<const char*>(payload->data()), payload->size());
  }
  if (const auto* entries = in.entries()) {
    m.entries.reserve(entries->size());  // bounded by entries_max already
    for (const fb::Entry* e : *entries) {
      Entry out{Slot{e->slot()}, from_fb(e->ballot()), Value{}};
      if (DecodeResult r = to_value(*e, limits, frame_size, budget, out.value);
          r.status != Status::ok)
        return r;
      m.entries.push_back(std::move(out));
    }
  }
  return detail::check_message(m, limits);
}

// FlatBuffers reads scalars in place, so the buffer must be aligned to its
// largest scalar (8). Stream buffers and fuzzers give any alignment: copy then,
// into a buffer this thread reuses. A TCP stream leaves about half the frames
// unaligned (TcpTransport's 4-byte length in front of each), and a fresh
// block per such frame, tens of KB for a batch, came from malloc's slow path
// once per frame received (docs/benchmarks.md, "Many groups"). Like the
// encoder's builder, a buffer grown past 4 MiB by one large frame is given
// back at the next smaller one. decode_body copies everything it keeps out
// of the buffer before it returns, and calls nothing that decodes again.
class AlignedScratch {
 public:
  const std::uint8_t* copy(std::span<const std::uint8_t> body) {
    const std::size_t words = body.size() / 8 + 1;
    if (words > words_ || (words_ > kKeepWords && words <= kKeepWords)) {
      const std::size_t n = std::max(words, kInitialWords);
      storage_ = std::make_unique_for_overwrite<std::uint64_t[]>(n);
      words_ = n;
    }
    std::memcpy(storage_.get(), body.data(), body.size());
    return reinterpret_cast<const std::uint8_t*>(storage_.get());
  }

 private:
  static constexpr std::size_t kInitialWords = 64 * 1024 / 8;
  static constexpr std::size_t kKeepWords = (4u << 20) / 8;
  std::unique_ptr<std::uint64_t[]> storage_;
  std::size_t words_ = 0;
};

thread_local AlignedScratch t_scratch;

const std::uint8_t* aligned(std::span<const std::uint8_t> body) {
  if (reinterpret_cast<std::uintptr_t>(body.data()) % alignof(std::uint64_t) == 0)
    return body.data();
  return t_scratch.copy(body);
}

DecodeResult decode_body(std::span<const std::uint8_t> body, const WireLimits& limits,
                         Message& out) {
  const std::uint8_t* data = aligned(body);
  const std::size_t size = body.size();
  if (DecodeResult r = check_header(data, size, limits); r.status != Status::ok) return r;
  flatbuffers::Verifier::Options opts;
  opts.max_depth = 8;  // Message > Entry; headroom for later schemas
  // The root and one table per entry (entries_max is below 2^32 - 1 in any
  // sane setting; saturate rather than wrap).
  opts.max_tables = limits.entries_max < UINT32_MAX ? limits.entries_max + 1 : UINT32_MAX;
  flatbuffers::Verifier v(data, size, opts);
  if (!fb::VerifyMessageBuffer(v))
    return refuse(Status::malformed, WireError::bad_buffer,
                  "the FlatBuffers verifier refused the frame", 0);
  return to_message(*fb::GetMessage(data), limits, size, out);
}

}  // namespace

DecodeResult decode_frame(std::span<const std::uint8_t> bytes, Message& out,
                          const WireLimits& limits) {
  DecodeResult framed = detail::check_frame(bytes, limits);
  if (framed.status != Status::ok || framed.consumed == 0) return framed;
  Message m;
  DecodeResult r = decode_body(
      bytes.subspan(frame_header_bytes, framed.consumed - frame_header_bytes), limits, m);
  // The checksum matched, so the frame's extent is trustworthy even when its
  // content is not: report it so a stream can skip the frame.
  r.consumed = framed.consumed;
  if (r.status == Status::ok) out = std::move(m);
  return r;
}

DecodeResult decode_one(std::span<const std::uint8_t> frame, Message& out,
                        const WireLimits& limits) {
  Message m;
  DecodeResult r = decode_frame(frame, m, limits);
  if (r.status != Status::ok) return r;
  if (r.consumed != frame.size()) {
    return refuse(Status::malformed, WireError::bad_buffer,
                  r.consumed == 0
                      ? fmt::format("a partial frame of {} bytes", frame.size())
                      : fmt::format("{} bytes after the frame", frame.size() - r.consumed),
                  0);
  }
  out = std::move(m);
  return r;
}

}  // namespace synod::wire
