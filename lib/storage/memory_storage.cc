#include "synod/memory_storage.h"

namespace synod {

std::vector<Entry> MemoryStorage::entries() const {
  std::vector<Entry> out;
  out.reserve(current_.entries.size());
  for (const auto& [slot, e] : current_.entries) out.push_back(e);
  return out;
}

void MemoryStorage::apply(Image& image, const Write& w) {
  image.written = true;
  if (w.hard) image.hard = *w.hard;
  if (w.entry) image.entries[w.entry->slot.value] = *w.entry;
  if (w.snapshot) {
    image.snapshot = w.snapshot->snapshot;
    image.floor = w.snapshot->keep_from;
    image.entries.erase(image.entries.begin(),
                        image.entries.lower_bound(w.snapshot->keep_from.value));
  }
}

Status MemoryStorage::save_snapshot(const Snapshot& snap, Slot keep_from) {
  Write w{std::nullopt, std::nullopt, SnapshotWrite{snap, keep_from}};
  apply(current_, w);
  if (tracking_) staged_.push_back(std::move(w));
  return Status::ok;
}

Status MemoryStorage::save(const HardState* hs, std::span<const Entry> entries) {
  auto stage = [&](Write w) {
    apply(current_, w);
    if (tracking_) staged_.push_back(std::move(w));
  };
  // Entries before the hard state, as the durable log writes them; a torn
  // write that kept a commit index without its entries is clamped on recovery.
  for (const Entry& e : entries) stage(Write{std::nullopt, e, std::nullopt});
  if (hs) stage(Write{*hs, std::nullopt, std::nullopt});
  return Status::ok;
}

Status MemoryStorage::sync() {
  for (const Write& w : staged_) apply(durable_, w);
  staged_.clear();
  return Status::ok;
}

void MemoryStorage::crash(std::size_t keep_unsynced) {
  if (!tracking_) return;
  for (std::size_t i = 0; i < keep_unsynced && i < staged_.size(); ++i) apply(durable_, staged_[i]);
  staged_.clear();
  current_ = durable_;
}

}  // namespace synod
