// Lowe's memoisation for the WGL search (internal to the linearizability
// checker): the configurations entered, and those that failed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "wgl_model.h"

namespace synod::sim::wgl {

// Lowe's cache: every (set of linearized operations, register value) the
// search has entered. Entering one again can only repeat a failure. Bitsets
// live in one arena; the hash of a set is the XOR of a random word per member,
// kept up to date by the search, so a lookup costs no pass over the bitset
// unless hashes collide.
class SeenConfigurations {
 public:
  explicit SeenConfigurations(std::size_t words) : words_(words), slots_(1024, 0) {}

  static constexpr std::uint64_t kStateSalt = std::uint64_t{1} << 63;

  // Remembers (bits, state); false if it was already there.
  bool insert(const std::vector<std::uint64_t>& bits, std::uint64_t bits_hash, Value state) {
    if (2 * (states_.size() + 1) > slots_.size()) grow();
    std::uint64_t h = bits_hash ^ mix(kStateSalt | state);  // apart from the ops' words
    std::size_t mask = slots_.size() - 1;
    for (std::size_t s = h & mask;; s = (s + 1) & mask) {
      std::uint32_t e = slots_[s];
      if (e == 0) {
        slots_[s] = static_cast<std::uint32_t>(states_.size() + 1);
        hashes_.push_back(h);
        states_.push_back(state);
        arena_.insert(arena_.end(), bits.begin(), bits.end());
        return true;
      }
      if (hashes_[e - 1] == h && states_[e - 1] == state &&
          std::equal(bits.begin(), bits.end(), arena_.begin() + (e - 1) * words_))
        return false;
    }
  }

  std::size_t bytes() const { return arena_.size() * 8 + states_.size() * 12 + slots_.size() * 4; }

 private:
  void grow() {
    std::vector<std::uint32_t> bigger(slots_.size() * 2, 0);
    std::size_t mask = bigger.size() - 1;
    for (std::uint32_t e = 1; e <= states_.size(); ++e) {
      std::size_t s = hashes_[e - 1] & mask;
      while (bigger[s] != 0) s = (s + 1) & mask;
      bigger[s] = e;
    }
    slots_ = std::move(bigger);
  }

  std::size_t words_;
  std::vector<std::uint32_t> slots_;  // entry + 1, 0 when free
  std::vector<std::uint64_t> hashes_;
  std::vector<Value> states_;
  std::vector<std::uint64_t> arena_;  // words_ per entry
};

// The configurations the search left because nothing worked from them, for
// keys with unknown operations. One with the same known operations
// linearized, the same value, and more unknown ones linearized fails too:
// whatever order works from it works from the failed one, the extra unknown
// operations simply never taking effect. Without this, every unknown write
// pending would double the configurations to search.
class FailedConfigurations {
 public:
  explicit FailedConfigurations(std::vector<std::uint64_t> known_mask)
      : known_(std::move(known_mask)) {}

  void add(const std::vector<std::uint64_t>& bits, std::uint64_t known_hash, Value state) {
    groups_[group(known_hash, state)].push_back(static_cast<std::uint32_t>(states_.size()));
    states_.push_back(state);
    arena_.insert(arena_.end(), bits.begin(), bits.end());
  }

  // Whether a failed configuration has the known operations and value of
  // (bits, state) and a subset of its unknown ones.
  bool covers(const std::vector<std::uint64_t>& bits, std::uint64_t known_hash, Value state) const {
    auto it = groups_.find(group(known_hash, state));
    if (it == groups_.end()) return false;
    for (std::uint32_t e : it->second) {
      if (states_[e] != state) continue;
      const std::uint64_t* failed = arena_.data() + std::size_t{e} * known_.size();
      bool covered = true;
      for (std::size_t w = 0; w < known_.size() && covered; ++w)
        covered = (failed[w] & ~bits[w]) == 0 && (bits[w] & ~failed[w] & known_[w]) == 0;
      if (covered) return true;
    }
    return false;
  }

  std::size_t bytes() const { return arena_.size() * 8 + states_.size() * 16; }

 private:
  static std::uint64_t group(std::uint64_t known_hash, Value state) {
    return known_hash ^ mix(SeenConfigurations::kStateSalt | state);
  }

  std::vector<std::uint64_t> known_;  // the bits of the known operations
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> groups_;
  std::vector<Value> states_;
  std::vector<std::uint64_t> arena_;  // known_.size() words per entry
};

// A pathological key gives up rather than take the machine's memory.
constexpr std::size_t kMaxCacheBytes = std::size_t{512} << 20;

}  // namespace synod::sim::wgl
