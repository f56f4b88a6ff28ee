// Frames built by hand with the generated FlatBuffers API, bypassing the
// encoder's rules: to play a buggy, hostile or newer peer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "synod/message.h"

namespace synod::wire::test {

struct RawOptions {
  std::optional<std::uint16_t> version;  // default: wire_version; 0 omits it
  std::optional<std::uint8_t> type;      // overrides m.type
  std::optional<std::uint8_t> kind;      // overrides every entry's kind
  // Adds the fields a later compatible schema might append: a scalar and a
  // nested table to Message, a scalar and a string to each Entry.
  bool newer_fields = false;
};

// The flatbuffer alone.
std::vector<std::uint8_t> raw_flatbuffer(const Message& m, const RawOptions& o = {});
// length | crc32c | flatbuffer around any bytes.
std::vector<std::uint8_t> frame_of(std::span<const std::uint8_t> flatbuffer);
std::vector<std::uint8_t> raw_frame(const Message& m, const RawOptions& o = {});

}  // namespace synod::wire::test
