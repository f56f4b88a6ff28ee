// FrameReader: a TCP byte stream to frames, in a buffer that never holds more
// than one maximal frame. Bytes are taken only as far as they fit, so a peer
// that streams faster than the host drains is slowed by TCP, not buffered.
#include <algorithm>
#include <cstring>

#include "framing.h"

namespace synod::wire {

namespace {
// An idle reader keeps at most this much memory; a large frame's buffer is
// released once the frame is gone.
constexpr std::size_t kIdleBytesMax = 256u << 10;
}  // namespace

FrameReader::FrameReader(const WireLimits& limits)
    : limits_(limits), capacity_(frame_header_bytes + detail::frame_max(limits)) {}

std::span<const std::uint8_t> FrameReader::pending() const {
  return std::span<const std::uint8_t>(buf_).subspan(begin_, end_ - begin_);
}

// Moves the pending bytes to the front, and frees a large idle buffer.
void FrameReader::compact() {
  const std::size_t n = end_ - begin_;
  if (n == 0 && buf_.size() > kIdleBytesMax) {
    std::vector<std::uint8_t>().swap(buf_);
  } else if (n > 0 && begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, n);
  }
  begin_ = 0;
  end_ = n;
}

std::size_t FrameReader::feed(std::span<const std::uint8_t> bytes) {
  if (failed() || bytes.empty()) return 0;
  // Empty: restart at the front (and free a large buffer). Full at the back:
  // move the partial frame to the front.
  if (begin_ == end_ || end_ == buf_.size()) compact();
  const std::size_t room = capacity_ - (end_ - begin_);
  const std::size_t take = std::min(bytes.size(), room);
  if (end_ + take > buf_.size()) {
    compact();
    // Grow geometrically for small frames, but never past the capacity.
    std::size_t want = std::max({end_ + take, 2 * buf_.size(), std::size_t{4096}});
    buf_.resize(std::min(want, capacity_));
  }
  if (take > 0) std::memcpy(buf_.data() + end_, bytes.data(), take);
  end_ += take;
  return take;
}

DecodeResult FrameReader::next_frame(std::span<const std::uint8_t>& frame) {
  if (failed()) return failure_;
  DecodeResult r = detail::check_frame(pending(), limits_);
  if (r.status != Status::ok) {
    failure_ = r;  // consumed == 0: framing is lost for good
    return r;
  }
  if (r.consumed > 0) {
    frame = pending().first(r.consumed);
    begin_ += r.consumed;
  }
  return r;
}

DecodeResult FrameReader::next(Message& out) {
  std::span<const std::uint8_t> frame;
  DecodeResult r = next_frame(frame);
  if (r.status != Status::ok || r.consumed == 0) return r;
  // The frame's checksum is checked again: cheap next to decoding, and it
  // keeps decode_frame the single way in.
  return decode_frame(frame, out, limits_);
}

}  // namespace synod::wire
