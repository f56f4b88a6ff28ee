// synod-kv's key space: a hash table from keys to values in which each key
// and its value share one allocation, found through an open-addressing
// array of (hash, pointer) slots.
//
// Why not std::unordered_map<std::string, Entry>: every SET on every
// replica looks its key up in a space of ~100 000 keys that no cache holds,
// and there each step is a cache miss that waits for the last one: the
// bucket, the node, the key's heap bytes (redis-benchmark's 16-byte keys
// are past std::string's inline 15), then the value's heap bytes. Here a
// lookup reads one slot (the full hash is in it, so a wrong key is seldom
// followed) and then one item, whose key, counters and value lie side by
// side; an overwrite of a same-size value writes the item in place. That
// halves the dependent misses per SET (docs/benchmarks.md, "synod-kv").
//
// freeze() makes the items of this moment immutable until thaw(): a write
// to one of them copies it first (the new item takes its slot, the old one
// waits for thaw()), and an erased one waits too. Another thread may read
// the frozen items meanwhile: that is how a snapshot is serialised beside a
// loop that goes on applying commands, item by item copy-on-write in place
// of a fork()'s page by page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace synod::kv {

class KeyTable {
 public:
  // One key and its value, in one allocation: this header, the key's bytes,
  // then room for value_capacity bytes of value.
  struct Item {
    std::uint64_t version = 0;    // KvStore::version_of()
    std::uint64_t pair_hash = 0;  // KvStore::pair_hash() as added to the digest
    std::size_t key_size = 0;
    std::size_t value_size = 0;
    std::size_t value_capacity = 0;
    std::uint64_t born = 0;  // the table's freeze count when it was made

    std::string_view key() const { return {bytes(), key_size}; }
    std::string_view value() const { return {bytes() + key_size, value_size}; }

   private:
    friend class KeyTable;
    const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }
    char* bytes() { return reinterpret_cast<char*>(this + 1); }
  };

  KeyTable() = default;
  ~KeyTable();
  KeyTable(const KeyTable& other);
  KeyTable& operator=(const KeyTable& other);
  KeyTable(KeyTable&& other) noexcept;
  KeyTable& operator=(KeyTable&& other) noexcept;
  void swap(KeyTable& other) noexcept;

  std::size_t size() const { return size_; }
  // Room for n keys without growing the slot array.
  void reserve(std::size_t n);

  // The key's item, or nullptr. Valid until the next change of the table.
  Item* find(std::string_view key) const;

  // Prefetching, for keys about to be looked up (KvStore::prefetch): a
  // lookup is two dependent cache misses (the slot, then the item), and a
  // batch applied key after key takes them one after another. Calling
  // prefetch_slot for a key some lookups before its own, and prefetch_item
  // a few lookups later (once the slot arrived), lets the misses overlap.
  // Neither changes anything or faults, whatever the table holds.
  static std::uint64_t hash_key(std::string_view key) { return hash_of(key); }
  void prefetch_slot(std::uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(hash)]);
  }
  // Reads the home slot (prefetched before, ideally arrived) and prefetches,
  // for writing, the first 384 bytes of the item there if its hash is this
  // one: the header, a short key and a value of about 300 bytes.
  void prefetch_item(std::uint64_t hash) const {
    if (slots_.empty()) return;
    const Slot& s = slots_[home(hash)];
    if (s.hash != hash || !s.item) return;
    const char* p = reinterpret_cast<const char*>(s.item);
    for (int line = 0; line < 6; ++line) __builtin_prefetch(p + 64 * line, 1);
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // A new key (precondition: not present) with its value; version and
  // pair_hash are 0. Returns its item.
  Item* insert(std::string_view key, std::string_view value);
  // Replaces the value of a present item, in place when it fits; else the
  // item moves (its version and pair_hash go with it). Returns the item.
  Item* assign(Item* item, std::string_view value);
  // Removes a present item (from find()); it is freed (once thawed, if
  // frozen).
  void erase(Item* item);
  // Replaces every pair with other's (other is left empty); frozen items
  // are kept until thaw(), the rest freed.
  void replace_with(KeyTable&& other);

  // The items of now, in no order, immutable and alive until thaw().
  // Precondition: not frozen.
  std::vector<const Item*> freeze();
  // Frees what was replaced or erased while frozen. Call only once no one
  // reads the frozen items any more.
  void thaw();
  bool frozen() const { return frozen_; }
  // Items kept for the frozen view since freeze() (replaced or erased).
  std::size_t retired() const { return retired_.size(); }

  // Calls f(const Item&) for every item, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.item) f(static_cast<const Item&>(*s.item));
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    Item* item = nullptr;  // nullptr: empty
  };

  static std::uint64_t hash_of(std::string_view key);
  static Item* make_item(std::string_view key, std::string_view value, std::size_t capacity);
  static void free_item(Item* item);
  // The slot a hash starts probing at.
  std::size_t home(std::uint64_t hash) const;
  // The slot holding `key` (hash `h`), or the empty slot ending its probe.
  std::size_t probe(std::string_view key, std::uint64_t h) const;
  bool is_frozen(const Item* item) const { return frozen_ && item->born < freezes_; }
  // Takes a frozen item out of the table's hands: freed at thaw().
  void retire(Item* item) { retired_.push_back(item); }
  // Grows the slot array when one more key would pass the load limit.
  void grow_for_one_more();
  void rehash(std::size_t slot_count);
  void clear();

  std::vector<Slot> slots_;  // a power of two in size, or empty
  std::size_t size_ = 0;
  int shift_ = 64;  // 64 - log2(slots_.size())
  // freeze() calls so far; items born before the last one are frozen while
  // frozen_ holds.
  std::uint64_t freezes_ = 0;
  bool frozen_ = false;
  std::vector<Item*> retired_;
};

}  // namespace synod::kv
