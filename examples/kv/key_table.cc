#include "key_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <new>
#include <utility>

namespace synod::kv {
namespace {

// Linear probing stays short up to three quarters full (about 1.5 slots
// read per hit, 2.5 per miss; four 16-byte slots share a cache line).
constexpr std::size_t kLoadNumerator = 3;
constexpr std::size_t kLoadDenominator = 4;
constexpr std::size_t kMinSlots = 16;

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
  std::vector<const Item*> items;
  items.reserve(size_);
  for (const Slot& s : slots_)
    if (s.item) items.push_back(s.item);
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
  void* memory = ::operator new(sizeof(Item) + key.size() + capacity);
  Item* item = new (memory) Item;
  item->key_size = key.size();
  item->value_size = value.size();
  item->value_capacity = capacity;
  if (!key.empty()) std::memcpy(item->bytes(), key.data(), key.size());
  if (!value.empty()) std::memcpy(item->bytes() + key.size(), value.data(), value.size());
  return item;
}

void KeyTable::free_item(Item* item) {
  item->~Item();
  ::operator delete(item);
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
    // memmove: the new value may be a view of the old one.
    if (!value.empty()) std::memmove(item->bytes() + item->key_size, value.data(), value.size());
    item->value_size = value.size();
    return item;
  }
  // Grown, or a frozen item's copy; the new value may be a view of the old
  // item, which stays alive until the end of this call at least.
  Item* moved = make_item(item->key(), value, std::max(value.size(), item->value_capacity));
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
