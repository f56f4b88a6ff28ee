// The wire codec: core Messages to and from frames (lib/wire). FlatBuffers is
// an implementation detail of lib/wire and never appears here, so hosts and
// transports include only this header. Layout, versioning and limits:
// docs/wire.md; the schema with each field's invariant: lib/wire/synod.fbs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synod/message.h"
#include "synod/status.h"

namespace synod::wire {

// A frame is: length (u32 little-endian, bytes of the flatbuffer that
// follows) | crc32c (u32 little-endian, over the flatbuffer) | flatbuffer.
inline constexpr std::size_t frame_header_bytes = 8;

// The schema version this build writes, and the oldest it reads. A frame
// outside [wire_version_min, wire_version] is refused with
// WireError::unsupported_version. Rolling-upgrade rules: docs/wire.md.
inline constexpr std::uint16_t wire_version = 1;
inline constexpr std::uint16_t wire_version_min = 1;

// FlatBuffers cannot address more; larger frame_bytes_max act as this.
inline constexpr std::uint32_t frame_bytes_limit = (1u << 31) - 8;

// What a decoder accepts. Every bound is checked before memory is allocated
// for what it bounds. Defaults fit the defaults of synod::Config; when you
// raise Config limits, raise these to match (docs/wire.md, "Limits").
struct WireLimits {
  // Bytes of one flatbuffer (the 8-byte header excluded). Also bounds the
  // FrameReader buffer. At most frame_bytes_limit.
  std::uint32_t frame_bytes_max = 16u << 20;
  // Entries in one message. Keep >= Config::message_bytes_max / 128.
  std::uint32_t entries_max = 1u << 16;
  // Bytes of one command. Keep >= Config::batch_bytes_max.
  std::uint32_t command_bytes_max = 1u << 20;
  // Commands in one message, all entries together.
  std::uint32_t commands_max = 1u << 20;
  // Group beats in one node_heartbeat (synod::GroupSet splits larger ones).
  std::uint32_t beats_max = 1u << 16;
};

// The largest frame, header included, that encode() produces and the
// decoders accept under `limits`: the buffer a datagram transport needs (a
// stream transport needs none: FrameReader is bounded by the same figure).
// encode() refuses a message that would be larger (Status::oversized), so no
// larger frame ever reaches Transport::send. Which WireLimits fit which
// Config limits: docs/wire.md, "Limits".
constexpr std::size_t max_frame_bytes(const WireLimits& limits) {
  return frame_header_bytes +
         (limits.frame_bytes_max < frame_bytes_limit ? limits.frame_bytes_max : frame_bytes_limit);
}

// Why a frame was refused; Status says how (malformed or oversized), this
// says which check, so a host can tell version skew from corruption.
enum class WireError : std::uint8_t {
  none = 0,
  // The length field or a count exceeds WireLimits. Status::oversized.
  oversized,
  // CRC32C mismatch: the bytes were damaged, and the length may have been
  // too, so frame boundaries after this point are unknown.
  bad_checksum,
  // Not a synod flatbuffer: wrong file identifier, missing version, or the
  // FlatBuffers verifier refused the structure.
  bad_buffer,
  // A schema version outside [wire_version_min, wire_version].
  unsupported_version,
  // A MessageType or ValueKind this build does not know (a newer peer).
  unknown_type,
  // Well-formed FlatBuffers that break a message invariant (synod.fbs).
  invalid,
};

std::string_view to_string(WireError e);

// Outcome of decoding from a byte sequence.
//   status ok, consumed > 0: one message decoded from the first `consumed`
//     bytes.
//   status ok, consumed == 0: the bytes hold no complete frame yet; call again
//     with more (need_more()).
//   status malformed or oversized: `reason` and `error` (a sentence naming
//     the check) say why. consumed > 0 means the frame's boundaries were sound
//     (its CRC matched) and the bad frame spans `consumed` bytes: a stream
//     reader may skip it and stay in sync, since a lost message is safe for
//     Paxos. consumed == 0 means framing is lost (oversized length or bad
//     checksum): close the connection.
struct DecodeResult {
  Status status = Status::ok;
  WireError reason = WireError::none;
  std::string error;
  std::size_t consumed = 0;

  bool need_more() const { return status == Status::ok && consumed == 0; }
};

// Appends one frame holding m to out. Returns ok; malformed (out unchanged)
// if m breaks an invariant of synod.fbs, so a peer would refuse it; oversized
// (out unchanged) if it exceeds `limits`, so a peer with those limits would
// refuse it. *why, when given, receives a sentence on failure.
Status encode(const Message& m, std::vector<std::uint8_t>& out, const WireLimits& limits = {},
              std::string* why = nullptr);

// The same frame without a copy: *frame points into a buffer this thread
// reuses, valid until the next encode or encode_view on the same thread.
// Same verdicts as encode(); *frame is empty unless ok. What a host uses to
// hand each message straight to its transport.
Status encode_view(const Message& m, std::span<const std::uint8_t>* frame,
                   const WireLimits& limits = {}, std::string* why = nullptr);

// Decodes the first frame of `bytes` (which may hold more, or less). On ok
// with consumed > 0, `out` is overwritten; otherwise `out` is untouched.
// Never crashes and never allocates more than the limits allow, whatever the
// bytes. The oversized check on the length field happens before the rest of
// the frame is needed.
DecodeResult decode_frame(std::span<const std::uint8_t> bytes, Message& out,
                          const WireLimits& limits = {});

// Decodes a span that must be exactly one frame (as Transport::Handler
// delivers): a partial frame or trailing bytes are malformed.
DecodeResult decode_one(std::span<const std::uint8_t> frame, Message& out,
                        const WireLimits& limits = {});

// Splits a byte stream (TCP) into frames, with a bounded buffer: it holds at
// most frame_header_bytes + limits.frame_bytes_max bytes. Typical loop:
//
//   while (!data.empty()) {
//     data = data.subspan(reader.feed(data));
//     for (;;) {
//       DecodeResult r = reader.next(msg);
//       if (r.status != Status::ok) { if (reader.failed()) close(); log(r); continue; }
//       if (r.need_more()) break;
//       handle(msg);
//     }
//   }
//
// Not thread-safe; one reader per connection.
class FrameReader {
 public:
  explicit FrameReader(const WireLimits& limits = {});

  // Copies as much of `bytes` as fits and returns how many bytes it took.
  // Feed the rest after draining with next(): a full buffer always holds a
  // complete frame (or an oversized header), so next() then makes progress.
  // Takes nothing once failed().
  std::size_t feed(std::span<const std::uint8_t> bytes);

  // The next message, as decode_frame reports it. A frame refused with
  // consumed > 0 has been skipped; one refused with consumed == 0 leaves the
  // reader failed(), and every later call returns that same error.
  DecodeResult next(Message& out);

  // For transports that pass frames on undecoded: the next whole frame
  // (header included) after checking its length and checksum only. `frame`
  // is set on ok with consumed > 0 and stays valid until the next feed().
  DecodeResult next_frame(std::span<const std::uint8_t>& frame);

  // Framing was lost (oversized length or bad checksum); close the stream.
  bool failed() const { return failure_.status != Status::ok; }
  // Bytes fed but not yet returned.
  std::size_t buffered_bytes() const { return end_ - begin_; }

 private:
  std::span<const std::uint8_t> pending() const;
  void compact();

  WireLimits limits_;
  std::size_t capacity_;
  std::vector<std::uint8_t> buf_;  // [begin_, end_) is pending
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  DecodeResult failure_;
};

}  // namespace synod::wire
