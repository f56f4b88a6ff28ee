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
  // then room for value_capacity bytes of value. 32 bytes, so that the
  // header and a key of up to 32 bytes (redis-benchmark's are 16) share the
  // item's first cache line: a lookup reads that one line, and an
  // overwrite need not read any other (assign()).
  struct Item {
    std::uint64_t version = 0;    // KvStore::version_of()
    std::uint64_t pair_hash = 0;  // KvStore::pair_hash() as added to the digest
    std::uint32_t key_size = 0;
    std::uint32_t value_size = 0;
    std::uint32_t value_capacity = 0;
    // The table's freeze count when it was made (freeze() renumbers before
    // the count would wrap).
    std::uint32_t born = 0;

    std::string_view key() const { return {bytes(), key_size}; }
    std::string_view value() const { return {bytes() + key_size, value_size}; }

   private:
    friend class KeyTable;
    const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }
    char* bytes() { return reinterpret_cast<char*>(this + 1); }
  };
  // The largest key or value an item holds: sizes are 32-bit, and a key
  // and value together must fit too. Above the RESP limits (512 MiB a bulk
  // string, 1 GiB a request), so only a hand-made log entry or snapshot
  // reaches it; insert() and assign() throw std::length_error past it
  // (KvStore checks first and answers an error).
  static constexpr std::size_t kMaxFieldBytes = (std::size_t{1} << 31) - 64;

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
  // for writing, the first cache line of the item there if its hash is this
  // one: the header and a key of up to 32 bytes, all a lookup reads and all
  // an overwrite with stream_values() reads (assign()). One line per item,
  // not the six of a 256-byte value: the value's lines are written whole,
  // never read, so loading them only kept miss buffers and cache room
  // (docs/benchmarks.md, "The key table's memory traffic (seventh round)").
  void prefetch_item(std::uint64_t hash) const {
    if (slots_.empty()) return;
    const Slot& s = slots_[home(hash)];
    if (s.hash != hash || !s.item) return;
    __builtin_prefetch(s.item, 1);
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // A new key (precondition: not present) with its value; version and
  // pair_hash are 0. Returns its item.
  Item* insert(std::string_view key, std::string_view value);
  // Replaces the value of a present item, in place when it fits; else the
  // item moves (its version and pair_hash go with it). Returns the item.
  // With stream_values(true), an in-place value's cache lines past the
  // item's first are written whole with non-temporal stores: no read of
  // the old value from memory, and no cache room taken by bytes the next
  // SET of another key will not read.
  Item* assign(Item* item, std::string_view value);
  // For a table far larger than the caches (KvStore turns it on with its
  // prefetch). Off, values are copied with memmove.
  void stream_values(bool on) { stream_values_ = on; }
  // Removes a present item (from find()); it is freed (once thawed, if
  // frozen).
  void erase(Item* item);
  // Replaces every pair with other's (other is left empty); frozen items
  // are kept until thaw(), the rest freed.
  void replace_with(KeyTable&& other);

  // The items of now, in no order, immutable and alive until thaw().
  // Precondition: not frozen.
  // Also fences the streamed (non-temporal) stores of assign(), so that
  // another thread that gets the items through a lock or an atomic sees
  // their values.
  std::vector<const Item*> freeze();
  // Frees what was replaced or erased while frozen. Call only once no one
  // reads the frozen items any more.
  void thaw();
  bool frozen() const { return frozen_; }
  // Items kept for the frozen view since freeze() (replaced or erased).
  std::size_t retired() const { return retired_.size(); }
  // The freeze count (each item's born is compared with it), settable so a
  // test can reach its wrap-around without 2^32 freezes. Precondition of
  // the setter: the table is empty.
  std::uint32_t freeze_count() const { return freezes_; }
  void set_freeze_count_for_test(std::uint32_t n) { freezes_ = n; }

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
  // Writes an in-place value: memmove, or the streamed copy (assign()).
  void write_value(Item* item, std::string_view value) const;
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
  std::uint32_t freezes_ = 0;
  bool frozen_ = false;
  bool stream_values_ = false;
  std::vector<Item*> retired_;
};

}  // namespace synod::kv
