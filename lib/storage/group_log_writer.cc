// GroupLogWriter: one background thread turning every group's submissions
// into one GroupLog::sync(). Writes that arrive during a sync wait for the
// next one; that is the whole batching policy (no timer), as LogWriter.
#include "synod/group_log_writer.h"

namespace synod {

GroupLogWriter::GroupLogWriter(GroupLog& log, DurableFn on_durable)
    : log_(log), on_durable_(std::move(on_durable)), thread_([this] { run(); }) {}

GroupLogWriter::~GroupLogWriter() { stop(); }

GroupLogWriter::Submitted GroupLogWriter::submit(GroupId group, const Snapshot* snap,
                                                 Slot keep_from, const HardState* hs,
                                                 std::span<const Entry> entries) {
  Write w;
  w.group = group;
  if (snap) w.snapshot = *snap;
  w.keep_from = keep_from;
  if (hs) w.hard_state = *hs;
  w.entries.assign(entries.begin(), entries.end());
  return enqueue(std::move(w));
}

GroupLogWriter::Submitted GroupLogWriter::remove_group(GroupId group) {
  Write w;
  w.group = group;
  w.remove = true;
  return enqueue(std::move(w));
}

GroupLogWriter::Submitted GroupLogWriter::enqueue(Write w) {
  std::lock_guard lock(mutex_);
  if (failed_ != Status::ok) return {failed_, 0};
  if (stopping_) return {Status::unavailable, 0};
  queue_.push_back(std::move(w));
  ++submitted_;
  wake_.notify_one();
  return {Status::ok, submitted_};
}

Status GroupLogWriter::flush() {
  std::unique_lock lock(mutex_);
  std::uint64_t target = submitted_;
  done_.wait(lock, [&] { return durable_ >= target || failed_ != Status::ok || exited_; });
  if (failed_ != Status::ok) return failed_;
  return durable_ >= target ? Status::ok : Status::unavailable;
}

void GroupLogWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

GroupLogWriterStats GroupLogWriter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

// Saves in submission order, so a group's writes keep their order and a
// removal comes after the group's last write.
Status GroupLogWriter::write_batch(std::vector<Write>& batch) {
  for (Write& w : batch) {
    Status st = w.remove
                    ? log_.remove_group(w.group)
                    : log_.save_ready(w.group, w.snapshot ? &*w.snapshot : nullptr, w.keep_from,
                                      w.hard_state ? &*w.hard_state : nullptr, w.entries);
    if (st != Status::ok) return st;
  }
  return log_.sync();
}

void GroupLogWriter::run() {
  std::unique_lock lock(mutex_);
  std::vector<Write> batch;
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and everything submitted is durable
    batch.clear();
    batch.swap(queue_);
    std::uint64_t through = submitted_;
    lock.unlock();
    Status st = write_batch(batch);
    lock.lock();
    ++stats_.batches;
    stats_.writes += batch.size();
    if (st == Status::ok)
      durable_ = through;
    else
      failed_ = st;
    lock.unlock();
    if (on_durable_) on_durable_(through, st);
    lock.lock();
    done_.notify_all();
    if (failed_ != Status::ok) break;
  }
  exited_ = true;
  done_.notify_all();
}

}  // namespace synod
