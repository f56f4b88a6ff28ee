// SegmentSpare (segment_spare.h): one background thread, one spare at a time.
#include "segment_spare.h"

#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>
#include <vector>

#include "../core/assert.h"
#include "segment_log.h"

namespace synod::storage {

namespace {
constexpr std::string_view kSpareSuffix = ".spare";
constexpr std::string_view kRecycledSuffix = ".recycled";
}  // namespace

std::string spare_file_name(std::uint64_t seq) {
  return fmt::format("{:016x}{}{}", seq, kSpareSuffix, kTempSuffix);
}

std::string recycled_file_name(std::uint64_t seq) {
  return fmt::format("{:016x}{}{}", seq, kRecycledSuffix, kTempSuffix);
}

bool is_spare_file_name(std::string_view name) {
  constexpr std::size_t kDigits = 16;
  if (name.size() <= kDigits || !name.ends_with(kTempSuffix)) return false;
  for (char c : name.substr(0, kDigits))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  std::string_view kind = name.substr(kDigits, name.size() - kDigits - kTempSuffix.size());
  return kind == kSpareSuffix || kind == kRecycledSuffix;
}

SegmentSpare::SegmentSpare(FileSystem& fs, std::uint64_t segment_bytes)
    : fs_(fs), segment_bytes_(segment_bytes), thread_([this] { run(); }) {}

SegmentSpare::~SegmentSpare() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  thread_.join();
}

void SegmentSpare::prepare(std::string path, std::chrono::nanoseconds spread) {
  std::lock_guard lock(mutex_);
  if (!ready_.empty() || !working_.empty() || !wanted_.empty()) return;
  wanted_ = std::move(path);
  wanted_spread_ = spread;
  wake_.notify_all();
}

std::unique_ptr<File> SegmentSpare::take(std::string* path, bool* recycled) {
  std::lock_guard lock(mutex_);
  if (ready_.empty()) {
    ++counters_.missed;
    hurry_ = true;  // the log runs fallocated until the spare is ready
    wake_.notify_all();
    return nullptr;
  }
  ++counters_.taken;
  Ready r = std::move(ready_.front());
  ready_.pop_front();
  *path = std::move(r.path);
  *recycled = r.recycled;
  return std::move(r.file);
}

bool SegmentSpare::recycle(const std::string& segment_path, std::uint64_t seq) {
  {
    std::lock_guard lock(mutex_);
    std::size_t held = ready_.size() + incoming_ + (working_.empty() ? 0 : 1);
    if (stopping_ || held >= kReadyMax) return false;
    ++incoming_;
  }
  // Opened before the rename (the descriptor follows it), so that a file
  // of another size is left where it was, for the caller to remove. Only a
  // segment's size exactly: a longer file (another segment_bytes, or one
  // batch larger than a segment) could hold the older bytes between
  // segment_bytes and the next pad boundary, where the pad rule of the
  // recovery scan looks for zeros (kWritePadBytes).
  std::unique_ptr<File> file;
  std::uint64_t size = 0;
  bool usable = fs_.open(segment_path, OpenMode::read_write, &file).ok() &&
                file->size(&size).ok() && size == segment_bytes_;
  const std::string dir = parent_dir(segment_path);
  const std::string path = join_path(dir, recycled_file_name(seq));
  bool renamed = usable && fs_.rename(segment_path, path).ok();
  // Durable before a roll writes the file's new header: a crash must never
  // find that header under the old segment's name (recovery would call it
  // corruption: "the header names another segment").
  bool durable = renamed && fs_.sync_dir(dir).ok();
  std::lock_guard lock(mutex_);
  --incoming_;
  if (!renamed) return false;
  if (stopping_ || !durable) {
    // Gone from the log's point of view already (a crash that undid the
    // rename brings back the old segment, whole, below the compaction
    // point); recovery would remove the spare.
    file.reset();
    (void)fs_.remove(path);
    return true;
  }
  // Names are per segment and kind (recycled_file_name), so no spare held
  // can have this one: a rename over it would have taken its file away.
  SYNOD_ASSERT(working_ != path && std::none_of(ready_.begin(), ready_.end(),
                                                [&](const Ready& r) { return r.path == path; }),
               "recycled {} over a spare held", path);
  ready_.push_back(Ready{path, std::move(file), true});
  ++counters_.recycled;
  wanted_.clear();  // a preparation not started yet is not needed either
  wake_.notify_all();
  return true;
}

bool SegmentSpare::ready() const {
  std::lock_guard lock(mutex_);
  return !ready_.empty();
}

SegmentSpare::Counters SegmentSpare::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void SegmentSpare::run() {
  pthread_setname_np(pthread_self(), "synod-spare");  // for top and kv_bench --threads
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !wanted_.empty(); });
    if (stopping_) break;
    working_ = std::move(wanted_);
    wanted_.clear();
    hurry_ = false;
    const std::string path = working_;
    const std::chrono::nanoseconds spread = wanted_spread_;
    lock.unlock();
    std::unique_ptr<File> file;
    bool opened = fs_.open(path, OpenMode::create_new, &file).ok();
    bool ok = opened && zero(*file, spread);
    lock.lock();
    if (ok && !stopping_) {
      ready_.push_back(Ready{path, std::move(file), false});
      ++counters_.zeroed;
    } else if (opened) {
      // Failed (the next roll fallocates, and asks again), or stopping.
      file.reset();
      (void)fs_.remove(path);
    }
    working_.clear();
  }
}

// By File::write_zeros, O_DIRECT on the real file system: zeros copied into
// the page cache and written back from it cost a follower about as much
// system time as its log writes (kv_bench --threads: 0.55-0.80 us per SET on
// this thread, docs/benchmarks.md "The log writer (sixth round)").
bool SegmentSpare::zero(File& file, std::chrono::nanoseconds spread) {
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t at = 0; at < segment_bytes_;) {
    {
      std::unique_lock lock(mutex_);
      if (spread.count() > 0) {
        // Chunk k goes out no earlier than k/N of the way through `spread`.
        auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                               static_cast<double>(spread.count()) * static_cast<double>(at) /
                               static_cast<double>(segment_bytes_)));
        wake_.wait_until(lock, due, [&] { return stopping_ || hurry_; });
      }
      if (stopping_) return false;  // within one chunk of being asked
    }
    std::uint64_t n = std::min(kChunkBytes, segment_bytes_ - at);
    if (!file.write_zeros(at, n).ok()) return false;
    at += n;
  }
  return file.sync_data().ok();
}

}  // namespace synod::storage
