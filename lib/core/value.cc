// A batch's block (synod/value.h): built once, shared read-only after.
#include "synod/value.h"

#include <algorithm>
#include <cstring>

namespace synod {

bool operator==(const CommandsView& a, const CommandsView& b) {
  if (a.count_ != b.count_) return false;
  if (a.count_ == 0) return true;
  // Same ends and same bytes mean the same commands: two compares, no walk.
  const std::uint64_t bytes = a.ends_[a.count_ - 1];
  return bytes == b.ends_[b.count_ - 1] && std::equal(a.ends_, a.ends_ + a.count_, b.ends_) &&
         std::memcmp(a.data_, b.data_, bytes) == 0;
}

Value Value::of_kind(ValueKind kind, const std::vector<std::string>& commands) {
  if (kind == ValueKind::noop) return noop();
  ValueBuilder b(kind);
  std::size_t bytes = 0;
  for (const std::string& c : commands) bytes += c.size();
  b.reserve(commands.size(), bytes);
  for (const std::string& c : commands) b.append(c);
  return b.finish();
}

namespace {

constexpr std::size_t kWord = sizeof(std::uint64_t);

}  // namespace

void ValueBuilder::reserve(std::size_t commands, std::size_t bytes) {
  const std::size_t have = block_ ? static_cast<std::size_t>(block_[2]) : 0;
  if (commands > have || bytes > bytes_capacity_)
    grow(std::max(commands, have), std::max(bytes, bytes_capacity_));
}

void ValueBuilder::append(std::string_view command) {
  std::size_t count = size();
  std::size_t bytes = byte_size();
  const std::size_t capacity = block_ ? static_cast<std::size_t>(block_[2]) : 0;
  if (count == capacity || bytes + command.size() > bytes_capacity_)
    grow(count == capacity ? std::max<std::size_t>(8, 2 * capacity) : capacity,
         std::max(bytes + command.size(), 2 * bytes_capacity_));
  std::uint64_t* w = block_.get();
  char* data = reinterpret_cast<char*>(w + Value::kHeaderWords + w[2]);
  if (!command.empty()) std::memcpy(data + bytes, command.data(), command.size());
  bytes += command.size();
  w[Value::kHeaderWords + count] = bytes;
  w[0] = count + 1;
  w[1] = bytes;
}

// A new block with room for `commands` ends and `bytes` bytes; what was
// appended so far moves over (the doubling keeps that amortised O(1)).
void ValueBuilder::grow(std::size_t commands, std::size_t bytes) {
  const std::size_t words = Value::kHeaderWords + commands + (bytes + kWord - 1) / kWord;
  auto fresh = std::make_shared_for_overwrite<std::uint64_t[]>(words);
  std::uint64_t* w = fresh.get();
  const std::size_t count = size();
  const std::size_t used = byte_size();
  w[0] = count;
  w[1] = used;
  w[2] = commands;
  if (block_) {
    const std::uint64_t* old = block_.get();
    std::memcpy(w + Value::kHeaderWords, old + Value::kHeaderWords, count * kWord);
    if (used != 0)
      std::memcpy(w + Value::kHeaderWords + commands, old + Value::kHeaderWords + old[2], used);
  }
  block_ = std::move(fresh);
  bytes_capacity_ = bytes;
}

Value ValueBuilder::finish() {
  Value v;
  if (kind_ == ValueKind::noop) {
    block_.reset();
    bytes_capacity_ = 0;
    return v;
  }
  v.kind_ = kind_;
  const std::size_t count = size();
  const std::size_t bytes = byte_size();
  // A block reserved far beyond its use (a size hint from a larger batch)
  // would hold that slack as long as the log keeps the value: shrink it.
  if (block_ && (block_[2] > 2 * count + 8 || bytes_capacity_ > 2 * bytes + 64)) grow(count, bytes);
  // An empty batch keeps no block: commands() is empty either way.
  if (block_ && count != 0) v.block_ = std::move(block_);
  block_.reset();
  bytes_capacity_ = 0;
  return v;
}

}  // namespace synod
