#include "key_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <stdexcept>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace synod::kv {
namespace {

// Linear probing stays short up to three quarters full (about 1.5 slots
// read per hit, 2.5 per miss; four 16-byte slots share a cache line).
constexpr std::size_t kLoadNumerator = 3;
constexpr std::size_t kLoadDenominator = 4;
constexpr std::size_t kMinSlots = 16;

constexpr std::size_t kLine = 64;
static_assert(sizeof(KeyTable::Item) == 32, "the header and a 32-byte key share a cache line");

// An item of more than one cache line is allocated line-aligned and
// rounded up to whole lines (the rounding goes to value_capacity), so that
// every line after its first belongs to it alone and an overwrite may
// write those lines whole (write_value). jemalloc's size classes above
// 64 bytes are multiples of 64 or 32, so the rounding costs at most a
// class step. One line or less: as it comes.
bool multi_line(std::size_t bytes) { return bytes > kLine; }
std::size_t item_bytes(std::size_t bytes) {
  return multi_line(bytes) ? (bytes + kLine - 1) / kLine * kLine : bytes;
}

void check_field(std::size_t bytes) {
  if (bytes > KeyTable::kMaxFieldBytes) throw std::length_error("synod-kv: key or value too large");
}

// Copies whole cache lines to line-aligned dst with non-temporal stores:
// they go to memory through write-combining buffers without reading the
// lines first (a cached store would read each, ~100 ns from memory, to
// then overwrite it all). src may be unaligned. The last line is padded
// from a zeroed buffer when src ends inside it (the padding falls in the
// item's value capacity).
void stream_copy(char* dst, const char* src, std::size_t bytes) {
#if defined(__SSE2__)
  for (; bytes >= kLine; dst += kLine, src += kLine, bytes -= kLine) {
    for (std::size_t i = 0; i < kLine; i += 16)
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
  }
  if (bytes == 0) return;
  alignas(16) char last[kLine] = {};
  std::memcpy(last, src, bytes);
  for (std::size_t i = 0; i < kLine; i += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm_load_si128(reinterpret_cast<const __m128i*>(last + i)));
#else
  std::memcpy(dst, src, bytes);
#endif
}

}  // namespace

KeyTable::~KeyTable() {
  clear();
  for (Item* i : retired_) free_item(i);
}

KeyTable::KeyTable(const KeyTable& other) {
  reserve(other.size_);
  other.for_each([this](const Item& i) {
    Item* copy = insert(i.key(), i.value());
    copy->version = i.version;
    copy->pair_hash = i.pair_hash;
  });
}

KeyTable& KeyTable::operator=(const KeyTable& other) {
  if (this != &other) {
    KeyTable copy(other);
    swap(copy);
  }
  return *this;
}

KeyTable::KeyTable(KeyTable&& other) noexcept { swap(other); }

KeyTable& KeyTable::operator=(KeyTable&& other) noexcept {
  if (this != &other) {
    KeyTable gone(std::move(*this));
    swap(other);
  }
  return *this;
}

void KeyTable::swap(KeyTable& other) noexcept {
  slots_.swap(other.slots_);
  std::swap(size_, other.size_);
  std::swap(shift_, other.shift_);
  std::swap(freezes_, other.freezes_);
  std::swap(frozen_, other.frozen_);
  std::swap(stream_values_, other.stream_values_);
  retired_.swap(other.retired_);
}

void KeyTable::clear() {
  for (Slot& s : slots_) {
    if (!s.item) continue;
    Item* item = std::exchange(s.item, nullptr);
    if (is_frozen(item))
      retire(item);
    else
      free_item(item);
  }
  size_ = 0;
}

void KeyTable::replace_with(KeyTable&& other) {
  clear();
  slots_.swap(other.slots_);
  std::swap(size_, other.size_);
  std::swap(shift_, other.shift_);
  // Born now, in this table's count: not part of the frozen view.
  for (Slot& s : slots_)
    if (s.item) s.item->born = freezes_;
  for (Item* i : other.retired_) free_item(i);
  other.retired_.clear();
  other.slots_.clear();
  other.size_ = 0;
  other.shift_ = 64;
}

std::vector<const KeyTable::Item*> KeyTable::freeze() {
#if defined(__SSE2__)
  // Non-temporal stores are not ordered by the release of a lock; this is.
  _mm_sfence();
#endif
  std::vector<const Item*> items;
  items.reserve(size_);
  for (const Slot& s : slots_)
    if (s.item) items.push_back(s.item);
  if (freezes_ == std::numeric_limits<std::uint32_t>::max()) {
    // The count would wrap: renumber, every item born before the freeze
    // below (not frozen now, so nothing is retired or read elsewhere).
    for (const Slot& s : slots_)
      if (s.item) s.item->born = 0;
    freezes_ = 0;
  }
  ++freezes_;
  frozen_ = true;
  return items;
}

void KeyTable::thaw() {
  for (Item* i : retired_) free_item(i);
  retired_.clear();
  frozen_ = false;
}

std::uint64_t KeyTable::hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

KeyTable::Item* KeyTable::make_item(std::string_view key, std::string_view value,
                                    std::size_t capacity) {
  check_field(key.size());
  check_field(value.size());
  // A copy keeps the old item's capacity, which the rounding to whole lines
  // below may have put up to 63 bytes past the limit: clamped, it never
  // refuses a value the limit let through (that would throw out of apply()
  // on a replica that happens to be snapshotting, and on no other).
  capacity = std::max(value.size(), std::min(capacity, kMaxFieldBytes));
  std::size_t wanted = sizeof(Item) + key.size() + capacity;
  std::size_t bytes = item_bytes(wanted);
  void* memory =
      multi_line(bytes) ? ::operator new (bytes, std::align_val_t{kLine}) : ::operator new(bytes);
  Item* item = new (memory) Item;
  item->key_size = static_cast<std::uint32_t>(key.size());
  item->value_size = static_cast<std::uint32_t>(value.size());
  item->value_capacity = static_cast<std::uint32_t>(capacity + (bytes - wanted));
  if (!key.empty()) std::memcpy(item->bytes(), key.data(), key.size());
  if (!value.empty()) std::memcpy(item->bytes() + key.size(), value.data(), value.size());
  return item;
}

void KeyTable::free_item(Item* item) {
  std::size_t bytes = sizeof(Item) + item->key_size + item->value_capacity;
  item->~Item();
  if (multi_line(bytes)) {
    // Its lines may have been written with streaming stores, which nothing
    // else orders: drained before the allocator may hand them to another
    // thread (rare: an item grows, or a frozen one is thawed).
#if defined(__SSE2__)
    _mm_sfence();
#endif
    ::operator delete (item, std::align_val_t{kLine});
  } else {
    ::operator delete(item);
  }
}

void KeyTable::write_value(Item* item, std::string_view value) const {
  char* to = item->bytes() + item->key_size;
  auto begin = reinterpret_cast<std::uintptr_t>(item);
  auto from = reinterpret_cast<std::uintptr_t>(value.data());
  std::size_t bytes = sizeof(Item) + item->key_size + item->value_capacity;
  // Streamed: the value's bytes in the line where it starts (read anyway,
  // for the key) by ordinary stores, the lines after it whole. Not when
  // the new value is a view of this item (apply() may pass one) or ends in
  // that first line.
  bool outside = from + value.size() <= begin || from >= begin + bytes;
  std::size_t offset = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(to) - begin);
  std::size_t head = std::min(value.size(), (kLine - offset % kLine) % kLine);
  if (!stream_values_ || !multi_line(bytes) || !outside || head == value.size()) {
    // memmove: the new value may be a view of the old one.
    if (!value.empty()) std::memmove(to, value.data(), value.size());
    return;
  }
  if (head > 0) std::memcpy(to, value.data(), head);
  stream_copy(to + head, value.data() + head, value.size() - head);
}

// Fibonacci hashing: the top bits of hash * 2^64/phi, so a weak low half of
// the hash still spreads over the whole array.
std::size_t KeyTable::home(std::uint64_t hash) const {
  return static_cast<std::size_t>((hash * 0x9e3779b97f4a7c15ull) >> shift_);
}

std::size_t KeyTable::probe(std::string_view key, std::uint64_t h) const {
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = home(h);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.item || (s.hash == h && s.item->key() == key)) return i;
  }
}

KeyTable::Item* KeyTable::find(std::string_view key) const {
  if (size_ == 0) return nullptr;
  return slots_[probe(key, hash_of(key))].item;
}

void KeyTable::reserve(std::size_t n) {
  std::size_t want = kMinSlots;
  while (want * kLoadNumerator / kLoadDenominator < n) want *= 2;
  if (want > slots_.size()) rehash(want);
}

void KeyTable::grow_for_one_more() {
  if (slots_.empty() || (size_ + 1) * kLoadDenominator > slots_.size() * kLoadNumerator)
    rehash(slots_.empty() ? kMinSlots : slots_.size() * 2);
}

// Moves every slot into a new array; the items stay where they are and the
// keys are not hashed again.
void KeyTable::rehash(std::size_t slot_count) {
  std::vector<Slot> old(slot_count);
  old.swap(slots_);
  shift_ = 64 - std::countr_zero(slot_count);
  std::size_t mask = slot_count - 1;
  for (const Slot& s : old) {
    if (!s.item) continue;
    std::size_t i = home(s.hash);
    while (slots_[i].item) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

KeyTable::Item* KeyTable::insert(std::string_view key, std::string_view value) {
  grow_for_one_more();
  std::uint64_t h = hash_of(key);
  std::size_t i = probe(key, h);
  Item* item = make_item(key, value, value.size());
  item->born = freezes_;
  slots_[i] = Slot{h, item};
  ++size_;
  return item;
}

KeyTable::Item* KeyTable::assign(Item* item, std::string_view value) {
  if (value.size() <= item->value_capacity && !is_frozen(item)) {
    write_value(item, value);
    item->value_size = static_cast<std::uint32_t>(value.size());
    return item;
  }
  // Grown, or a frozen item's copy; the new value may be a view of the old
  // item, which stays alive until the end of this call at least.
  Item* moved =
      make_item(item->key(), value, std::max<std::size_t>(value.size(), item->value_capacity));
  moved->version = item->version;
  moved->pair_hash = item->pair_hash;
  moved->born = freezes_;
  slots_[probe(item->key(), hash_of(item->key()))].item = moved;
  if (is_frozen(item))
    retire(item);
  else
    free_item(item);
  return moved;
}

// Backward-shift deletion: the slots after the hole that probed past it
// move back, so no tombstones are left to lengthen later probes.
void KeyTable::erase(Item* item) {
  std::size_t mask = slots_.size() - 1;
  std::size_t hole = probe(item->key(), hash_of(item->key()));
  if (is_frozen(item))
    retire(item);
  else
    free_item(item);
  for (std::size_t j = (hole + 1) & mask; slots_[j].item; j = (j + 1) & mask) {
    std::size_t want = home(slots_[j].hash);
    // Slot j may fill the hole unless its home lies cyclically in (hole, j].
    bool home_after_hole = hole <= j ? (want > hole && want <= j) : (want > hole || want <= j);
    if (home_after_hole) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = Slot{};
  --size_;
}

}  // namespace synod::kv
