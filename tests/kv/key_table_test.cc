#include "key_table.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

using synod::kv::KeyTable;

namespace {

// "k7" and the like. (Appending, because GCC 12 at -O3 raises a false
// -Wrestrict on `"k" + std::to_string(n)`.)
std::string numbered(std::string prefix, std::uint64_t n) {
  return prefix.append(std::to_string(n));
}

// Every key of the model is found with its value, no other key is, and a
// walk over the table visits exactly the model's pairs.
void check_same(const KeyTable& t, const std::map<std::string, std::string>& model,
                int absent_keys) {
  REQUIRE(t.size() == model.size());
  for (const auto& [k, v] : model) {
    const KeyTable::Item* i = t.find(k);
    REQUIRE(i != nullptr);
    CHECK(i->key() == k);
    CHECK(i->value() == v);
  }
  for (int n = 0; n < absent_keys; ++n)
    CHECK(t.find(numbered("absent", static_cast<std::uint64_t>(n))) == nullptr);
  std::map<std::string, std::string> walked;
  t.for_each([&](const KeyTable::Item& i) {
    CHECK(walked.emplace(std::string(i.key()), std::string(i.value())).second);
  });
  CHECK(walked == model);
}

}  // namespace

TEST_CASE("key table: random inserts, overwrites and erases agree with std::map") {
  std::mt19937_64 rng(7);
  KeyTable t;
  std::map<std::string, std::string> model;
  // 300 keys over 20 000 operations: the table grows through several
  // sizes and erases run through probe clusters, wrapping at the end.
  for (int op = 0; op < 20000; ++op) {
    std::string key = numbered("k", rng() % 300);
    std::string value(rng() % 40, static_cast<char>('a' + rng() % 26));
    KeyTable::Item* found = t.find(key);
    REQUIRE((found != nullptr) == model.contains(key));
    switch (rng() % 3) {
      case 0:
      case 1:
        if (found)
          t.assign(found, value);
        else
          t.insert(key, value);
        model[key] = value;
        break;
      default:
        if (found) t.erase(found);
        model.erase(key);
        break;
    }
    if (op % 1000 == 0) check_same(t, model, 20);
  }
  check_same(t, model, 20);
  // Everything erased leaves an empty table that still works.
  for (auto& [k, v] : model) t.erase(t.find(k));
  model.clear();
  check_same(t, model, 20);
  t.insert("again", "v");
  model.emplace("again", "v");
  check_same(t, model, 20);
}

TEST_CASE(
    "key table: a value that fits is written in place, a longer one moves with its counters") {
  KeyTable t;
  KeyTable::Item* i = t.insert("key", "0123456789");
  i->version = 7;
  i->pair_hash = 99;
  CHECK(t.assign(i, "abcdefghij") == i);  // same size
  CHECK(t.assign(i, "xyz") == i);         // shorter
  CHECK(t.find("key")->value() == "xyz");
  CHECK(t.assign(i, "0123456789") == i);  // back up to the capacity
  KeyTable::Item* grown = t.assign(i, std::string(100, 'g'));
  CHECK(grown->value() == std::string(100, 'g'));
  CHECK(grown->version == 7);
  CHECK(grown->pair_hash == 99);
  CHECK(t.find("key") == grown);
  CHECK(t.size() == 1);
  // A value that is a view of the item's own bytes.
  KeyTable::Item* self = t.assign(grown, grown->value().substr(10, 5));
  CHECK(self->value() == "ggggg");
}

TEST_CASE("key table: empty keys and values, binary bytes, and many keys") {
  KeyTable t;
  t.insert("", "empty key");
  t.insert("empty value", "");
  t.insert(std::string("\0\r\n", 3), std::string("\xff\0", 2));
  CHECK(t.find("")->value() == "empty key");
  CHECK(t.find("empty value")->value().empty());
  CHECK(t.find(std::string("\0\r\n", 3))->value() == std::string("\xff\0", 2));
  CHECK(t.find(std::string("\0\r", 2)) == nullptr);
  std::map<std::string, std::string> model{
      {"", "empty key"}, {"empty value", ""}, {std::string("\0\r\n", 3), std::string("\xff\0", 2)}};
  for (int n = 0; n < 100000; ++n) {
    std::string k = numbered("key:", static_cast<std::uint64_t>(n));
    t.insert(k, k);
    model[k] = k;
  }
  check_same(t, model, 100);
}

TEST_CASE("key table: copies are deep, moves and swaps hand over the items") {
  KeyTable a;
  a.insert("x", "1")->version = 5;
  a.insert("y", "2");
  KeyTable b = a;
  b.assign(b.find("x"), "changed");
  b.erase(b.find("y"));
  CHECK(a.find("x")->value() == "1");
  CHECK(a.find("x")->version == 5);
  CHECK(b.find("x")->version == 5);
  CHECK(a.find("y") != nullptr);
  CHECK(b.find("y") == nullptr);
  KeyTable c = std::move(a);
  CHECK(c.size() == 2);
  CHECK(a.size() == 0);  // NOLINT(bugprone-use-after-move): a moved-from table is empty
  CHECK(a.find("x") == nullptr);
  c.swap(b);
  CHECK(c.size() == 1);
  CHECK(b.find("y")->value() == "2");
  b = c;
  CHECK(b.find("x")->value() == "changed");
  CHECK(b.size() == 1);
}

TEST_CASE(
    "key table: a frozen item is never written or freed; writes copy it, thaw frees the old") {
  KeyTable t;
  for (int n = 0; n < 50; ++n) t.insert(numbered("k", static_cast<std::uint64_t>(n)), "old");
  KeyTable::Item* kept = t.find("k1");
  kept->version = 3;
  std::vector<const KeyTable::Item*> view = t.freeze();
  REQUIRE(t.frozen());
  CHECK(view.size() == 50);
  // Same size: written in place when thawed, copied when frozen.
  KeyTable::Item* copy = t.assign(kept, "new");
  CHECK(copy != kept);
  CHECK(copy->version == 3);
  CHECK(kept->value() == "old");
  CHECK(t.find("k1")->value() == "new");
  // The copy was born after the freeze: written in place from now on.
  CHECK(t.assign(copy, "NEW") == copy);
  t.erase(t.find("k2"));
  t.insert("fresh", "x");
  for (int n = 10; n < 50; ++n) t.erase(t.find(numbered("k", static_cast<std::uint64_t>(n))));
  CHECK(t.retired() == 1 + 1 + 40);
  // Every frozen item still reads as it was at freeze().
  for (const KeyTable::Item* i : view) CHECK(i->value() == "old");
  // A whole replacement (a restored snapshot) keeps the frozen view too.
  KeyTable other;
  other.insert("restored", "r");
  t.replace_with(std::move(other));
  CHECK(t.size() == 1);
  CHECK(t.find("k0") == nullptr);
  CHECK(t.find("restored")->value() == "r");
  for (const KeyTable::Item* i : view) CHECK(i->value() == "old");
  CHECK(t.retired() == 50);  // k1's copy was born after the freeze: freed at once
  t.thaw();
  CHECK_FALSE(t.frozen());
  CHECK(t.retired() == 0);
  // Thawed, the restored item (born in the last freeze count) is written in place.
  KeyTable::Item* r = t.find("restored");
  CHECK(t.assign(r, "s") == r);
  // A second freeze covers the items of its own time only.
  KeyTable::Item* before = t.insert("second", "a");
  view = t.freeze();
  CHECK(t.assign(before, "b") != before);
  KeyTable::Item* after = t.insert("third", "a");
  CHECK(t.assign(after, "b") == after);
  t.thaw();
}

TEST_CASE("key table: streamed in-place values read back, whatever their size, key or source") {
  // Each key length puts the value's start at another offset of the item's
  // first cache line or past it; each size ends the value at another
  // offset of a line, inside the first line or lines later.
  KeyTable t;
  t.stream_values(true);
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(7);
  std::vector<std::string> keys;
  for (std::size_t key_size : {0, 1, 15, 16, 17, 31, 32, 33, 47, 64, 100})
    keys.push_back(std::string(key_size, 'k'));
  for (const std::string& k : keys) {
    model[k] = std::string(700, 'a');
    t.insert(k, model[k]);
  }
  for (int round = 0; round < 2000; ++round) {
    const std::string& k = keys[rng() % keys.size()];
    std::string v(rng() % 701, '\0');
    for (char& c : v) c = static_cast<char>(rng());
    KeyTable::Item* item = t.find(k);
    REQUIRE(item != nullptr);
    // Up to the capacity the item stays where it is (written in place).
    CHECK(t.assign(item, v) == item);
    model[k] = v;
  }
  check_same(t, model, 5);
  // A new value that is a view of the item itself (memmove, not streamed).
  KeyTable::Item* item = t.find(keys[4]);
  std::string tail(item->value().substr(item->value().size() / 2));
  t.assign(item, item->value().substr(item->value().size() / 2));
  model[keys[4]] = tail;
  check_same(t, model, 5);
}

TEST_CASE("key table: multi-line items are line-aligned with capacity to their last line") {
  KeyTable t;
  // Header 32 + key 16 + value 256 = 304 bytes: rounded up to 320.
  KeyTable::Item* item = t.insert("key:000000000001", std::string(256, 'v'));
  CHECK(reinterpret_cast<std::uintptr_t>(item) % 64 == 0);
  CHECK(item->value_capacity == 320 - 32 - 16);
  // One line or less: as it comes, no capacity added.
  KeyTable::Item* small = t.insert("s", "tiny");
  CHECK(small->value_capacity == 4);
  CHECK(t.find("key:000000000001")->value() == std::string(256, 'v'));
}

TEST_CASE("key table: the freeze count wraps without unfreezing old items") {
  KeyTable t;
  t.set_freeze_count_for_test(0xffffffffu - 1);
  t.insert("a", "old");
  KeyTable::Item* b = t.insert("b", "old");
  std::vector<const KeyTable::Item*> view = t.freeze();  // count now 2^32 - 1
  t.thaw();
  CHECK(t.assign(b, "new") == b);  // thawed: in place
  view = t.freeze();               // the count would wrap: renumbered
  CHECK(t.freeze_count() == 1);
  // Every item is frozen, however long ago it was born.
  KeyTable::Item* a = t.find("a");
  KeyTable::Item* a_copy = t.assign(a, "NEW");
  CHECK(a_copy != a);
  CHECK(a->value() == "old");
  KeyTable::Item* b_copy = t.assign(t.find("b"), "NEWER");
  CHECK(b_copy != b);
  CHECK(b->value() == "new");
  // Written after the freeze: in place.
  CHECK(t.assign(a_copy, "one") == a_copy);
  t.thaw();
  CHECK(t.find("a")->value() == "one");
  CHECK(t.find("b")->value() == "NEWER");
}
