// What a slot holds: a batch of commands, a no-op, or a configuration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "synod/types.h"

namespace synod {

enum class ValueKind : std::uint8_t {
  noop = 0,      // fills a hole found by a new leader; applies nothing
  commands = 1,  // a batch of opaque client commands, applied in order
  // A new membership (synod/membership.h), encoded as the one "command";
  // chosen at slot i, it governs slots from i + Config::alpha.
  config = 2,
};

// The commands of one batch, in apply order, as std::string_views into the
// batch's block. Cheap to copy (three words); random access.
//
// Lifetime: a CommandsView, and every std::string_view taken from it, is
// valid only while a Value sharing the block lives (the Value it came from,
// or a copy of it). Keep the Value, or copy the bytes, to hold a command
// longer.
class CommandsView {
 public:
  class iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using iterator_concept = std::random_access_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using reference = std::string_view;
    using pointer = void;

    iterator() = default;
    std::string_view operator*() const { return at(ends_, data_, i_); }
    std::string_view operator[](difference_type n) const { return at(ends_, data_, i_ + n); }
    iterator& operator++() { return ++i_, *this; }
    iterator operator++(int) { return iterator{ends_, data_, i_++}; }
    iterator& operator--() { return --i_, *this; }
    iterator operator--(int) { return iterator{ends_, data_, i_--}; }
    iterator& operator+=(difference_type n) { return i_ += n, *this; }
    iterator& operator-=(difference_type n) { return i_ -= n, *this; }
    friend iterator operator+(iterator it, difference_type n) { return it += n; }
    friend iterator operator+(difference_type n, iterator it) { return it += n; }
    friend iterator operator-(iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(iterator a, iterator b) { return a.i_ - b.i_; }
    friend bool operator==(iterator a, iterator b) { return a.i_ == b.i_; }
    friend auto operator<=>(iterator a, iterator b) { return a.i_ <=> b.i_; }

   private:
    friend class CommandsView;
    // Points into the block, not at the view: valid as long as the block.
    iterator(const std::uint64_t* ends, const char* data, difference_type i)
        : ends_(ends), data_(data), i_(i) {}
    const std::uint64_t* ends_ = nullptr;
    const char* data_ = nullptr;
    difference_type i_ = 0;
  };
  using const_iterator = iterator;
  using value_type = std::string_view;

  CommandsView() = default;
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  std::string_view operator[](std::size_t i) const {
    return at(ends_, data_, static_cast<std::ptrdiff_t>(i));
  }
  std::string_view front() const { return (*this)[0]; }
  std::string_view back() const { return (*this)[count_ - 1]; }
  // Every command's bytes back to back, in order (one copy encodes them).
  std::string_view all_bytes() const {
    return {data_, count_ == 0 ? 0 : static_cast<std::size_t>(ends_[count_ - 1])};
  }
  iterator begin() const { return {ends_, data_, 0}; }
  iterator end() const { return {ends_, data_, static_cast<std::ptrdiff_t>(count_)}; }
  // Copies, for a caller that keeps the commands past the Value.
  std::vector<std::string> to_strings() const { return std::vector<std::string>(begin(), end()); }

  friend bool operator==(const CommandsView& a, const CommandsView& b);

 private:
  friend class Value;
  static std::string_view at(const std::uint64_t* ends, const char* data, std::ptrdiff_t i) {
    const std::uint64_t start = i == 0 ? 0 : ends[i - 1];
    return {data + start, static_cast<std::size_t>(ends[i] - start)};
  }
  CommandsView(const std::uint64_t* ends, const char* data, std::size_t count)
      : ends_(ends), data_(data), count_(count) {}
  const std::uint64_t* ends_ = nullptr;  // ends_[i]: offset one past command i
  const char* data_ = nullptr;
  std::size_t count_ = 0;
};

// An immutable value, cheap to copy: copies share one block, so the leader's
// log, its Accept to every peer and the Ready handed to the host all point at
// the same bytes.
//
// A batch is one heap block (docs/embedding.md, "Values"): a header (count,
// bytes, capacity), the end offset of every command, then the bytes of all
// commands back to back, with the shared_ptr's control block in the same
// allocation. One allocation per batch, not one per command: decoding a
// peer's frame or a log record and closing the leader's batch each build one
// (ValueBuilder). The encodings on the wire and on disk are not affected.
class Value {
 public:
  Value() = default;  // a no-op

  static Value noop() { return Value{}; }
  // Copies the commands into one block; for callers and tests that have
  // strings at hand (the hot paths use ValueBuilder).
  static Value of_commands(const std::vector<std::string>& commands) {
    return of_kind(ValueKind::commands, commands);
  }
  // A kind and its commands (a config's single command is its encoding).
  static Value of_kind(ValueKind kind, const std::vector<std::string>& commands);

  ValueKind kind() const { return kind_; }
  bool is_config() const { return kind_ == ValueKind::config; }
  bool is_noop() const { return kind_ == ValueKind::noop; }
  // The commands of a batch, in apply order; empty for a no-op. Valid while
  // this Value (or a copy sharing its block) lives: see CommandsView.
  CommandsView commands() const {
    if (!block_) return {};
    const std::uint64_t count = block_[0];
    return {block_.get() + kHeaderWords, data(), static_cast<std::size_t>(count)};
  }
  // The bytes of all commands, O(1).
  std::size_t byte_size() const { return block_ ? static_cast<std::size_t>(block_[1]) : 0; }

  friend bool operator==(const Value& a, const Value& b) {
    if (a.kind_ != b.kind_) return false;
    if (a.block_ == b.block_) return true;
    return a.commands() == b.commands();
  }

 private:
  friend class ValueBuilder;
  // Block layout, in 64-bit words: [0] count, [1] bytes, [2] capacity in
  // commands (where the bytes start), then capacity end offsets, then bytes.
  static constexpr std::size_t kHeaderWords = 3;
  const char* data() const {
    return reinterpret_cast<const char*>(block_.get() + kHeaderWords + block_[2]);
  }

  ValueKind kind_ = ValueKind::noop;
  std::shared_ptr<const std::uint64_t[]> block_;
};

// Builds a Value's block by appending commands. Reserve the exact count and
// bytes when known (decoding: one allocation, no copy at finish); otherwise
// the block grows by doubling, as a vector does.
class ValueBuilder {
 public:
  explicit ValueBuilder(ValueKind kind = ValueKind::commands) : kind_(kind) {}
  ValueBuilder(ValueBuilder&&) noexcept = default;
  ValueBuilder& operator=(ValueBuilder&&) noexcept = default;

  // Room for at least this many commands and bytes in all, before growing.
  void reserve(std::size_t commands, std::size_t bytes);
  void append(std::string_view command);

  std::size_t size() const { return block_ ? static_cast<std::size_t>(block_[0]) : 0; }
  bool empty() const { return size() == 0; }
  std::size_t byte_size() const { return block_ ? static_cast<std::size_t>(block_[1]) : 0; }

  // The Value; the builder is left empty. A no-op kind ignores commands.
  Value finish();

 private:
  void grow(std::size_t commands, std::size_t bytes);

  ValueKind kind_;
  std::shared_ptr<std::uint64_t[]> block_;
  std::size_t bytes_capacity_ = 0;
};

// One slot's accepted (or chosen) value with the ballot it was accepted in.
struct Entry {
  Slot slot{};
  Ballot ballot{};
  Value value{};
  friend bool operator==(const Entry&, const Entry&) = default;
};

}  // namespace synod
