#include "snapshot_transfer.h"

#include <algorithm>

#include "snapshot_image.h"

namespace synod::detail {

void SnapshotSender::serve(const Message& request) {
  auto it = transfers_.find(request.from);
  bool resume = it != transfers_.end() && request.slot_end == it->second.snapshot.meta.slot;
  if (!resume) {
    const Snapshot& current = ctx_.snapshot;
    if (current.empty()) return;  // nothing compacted: never asked below the log
    // Compaction drops only what the snapshot holds: it reaches the window,
    // and so the slot asked (below the window).
    SYNOD_ASSERT(current.meta.slot.next() >= ctx_.log.first() && request.slot <= current.meta.slot,
                 "snapshot at {} does not cover slot {} asked or the window start {}",
                 current.meta.slot.value, request.slot.value, ctx_.log.first().value);
    Transfer t{current, encode_trailer(current.meta, *current.data), 0};
    it = transfers_.insert_or_assign(request.from, std::move(t)).first;
  }
  Transfer& t = it->second;
  // Snapshots carry chosen values only (docs/invariants.md, invariant 5).
  SYNOD_ASSERT(t.snapshot.meta.slot <= ctx_.log.commit(), "serving snapshot {} above commit {}",
               t.snapshot.meta.slot.value, ctx_.log.commit().value);
  t.idle_ticks = 0;
  std::uint64_t total = t.snapshot.data->size() + t.trailer.size();
  // Only a transfer this sender remembers resumes: after a restart, or once
  // it forgot an idle one, its image of the same slot may differ in bytes.
  std::uint64_t offset = resume && request.offset <= total ? request.offset : 0;

  Message c;
  c.type = MessageType::snapshot_chunk;
  c.to = request.from;
  c.slot = request.slot;
  c.slot_end = t.snapshot.meta.slot;
  c.offset = offset;
  std::uint64_t chunk =
      std::min<std::uint64_t>(ctx_.config.snapshot_chunk_bytes, ctx_.config.message_bytes_max / 2);
  c.payload = image_bytes(t.snapshot, t.trailer, offset, chunk);
  SYNOD_ASSERT(offset + c.payload.size() <= total, "chunk [{}, +{}) past the image's {} bytes",
               offset, c.payload.size(), total);
  c.more = offset + c.payload.size() < total;
  c.commit = ctx_.log.commit();
  ctx_.send(std::move(c));
}

void SnapshotSender::tick() {
  std::uint64_t idle_max = 20ull * ctx_.config.election_ticks;
  for (auto it = transfers_.begin(); it != transfers_.end();)
    it = ++it->second.idle_ticks >= idle_max ? transfers_.erase(it) : std::next(it);
}

SnapshotReceiver::Step SnapshotReceiver::on_chunk(const Message& chunk) {
  // Offset 0 starts an assembly: of another snapshot or source, or over
  // again (the sender no longer had what this one began with).
  if (chunk.offset == 0) {
    reset();
    slot_ = chunk.slot_end;
    source_ = chunk.from;
  }
  if (chunk.slot_end != slot_ || chunk.from != source_) return Step::ignored;
  if (chunk.offset != image_.size()) return Step::ignored;
  image_.append(chunk.payload);
  SYNOD_ASSERT(slot_.value != 0 && source_.valid(), "assembling a snapshot of no slot or source");
  return chunk.more ? Step::advanced : Step::complete;
}

std::optional<Snapshot> SnapshotReceiver::take() {
  std::optional<Snapshot> s = decode_image(std::move(image_));
  reset();
  return s;
}

void SnapshotReceiver::reset() {
  slot_ = Slot{};
  source_ = NodeId{};
  image_ = std::string{};
}

}  // namespace synod::detail
