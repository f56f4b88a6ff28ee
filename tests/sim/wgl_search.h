// Wing & Gong's search over one key's operations, with Lowe's memoisation
// (internal to the linearizability checker; linearizability.h is the API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "wgl_configurations.h"
#include "wgl_model.h"

namespace synod::sim::wgl {

// Where the search got furthest: the witness of a failure.
struct Stuck {
  std::vector<std::size_t> prefix;   // linearized, in order (indices into ops)
  Value state = kAbsent;             // after the prefix
  std::size_t returning = 0;         // returned without taking effect
  std::vector<std::size_t> pending;  // called by then, none could go next
};

enum class Verdict { linearizable, not_linearizable, gave_up };

// Wing & Gong's depth-first search over a doubly linked list of call and
// return events, with Lowe's cache. An operation is linearized by unlinking
// its call and return; reaching the return of an operation not yet
// linearized means the current order is dead, so the search backtracks.
// Three refinements skip orders that can only succeed where an order the
// search does try would too:
//   - a read (or a compare-and-set that kept the value) that can take effect
//     is taken at once, alone (run());
//   - unknown operations are tried after the known ones, and only right
//     before something needs them (worth_taking());
//   - a configuration that only adds unknown operations to one that failed is
//     not entered (FailedConfigurations).
// Each was checked against a brute-force search: the test compares 3,000
// small histories; a million, with more unknown operations, were run once.
class KeySearch {
 public:
  explicit KeySearch(std::vector<ModelOp> ops)
      : ops_(std::move(ops)), n_(ops_.size()), seen_((n_ + 63) / 64), failed_(known_mask()) {
    build_list();
  }

  Verdict run(std::size_t max_steps);
  std::size_t steps() const { return steps_; }
  const Stuck& stuck() const { return stuck_; }
  const ModelOp& op(std::size_t i) const { return ops_[i]; }

 private:
  // Entry 0 is the head; operation i's call is 2i + 1, its return 2i + 2.
  static std::size_t call_of(std::size_t i) { return 2 * i + 1; }
  static std::size_t return_of(std::size_t i) { return 2 * i + 2; }
  static bool is_call(std::size_t e) { return e % 2 == 1; }
  static std::size_t op_of(std::size_t e) { return (e - 1) / 2; }
  static constexpr std::size_t kEnd = static_cast<std::size_t>(-1);

  void build_list();
  std::vector<std::uint64_t> known_mask() const;
  void unlink(std::size_t e) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != kEnd) prev_[next_[e]] = prev_[e];
  }
  void relink(std::size_t e) {
    next_[prev_[e]] = e;
    if (next_[e] != kEnd) prev_[next_[e]] = e;
  }
  void lift(std::size_t i) {
    unlink(call_of(i));
    unlink(return_of(i));
  }
  void unlift(std::size_t i) {  // the reverse of lift, in the reverse order
    relink(return_of(i));
    relink(call_of(i));
  }
  void flip(std::size_t i) {
    bits_[i / 64] ^= std::uint64_t{1} << (i % 64);
    bits_hash_ ^= mix(i);
    if (!ops_[i].op->unknown) known_hash_ ^= mix(i);
  }
  // Linearizes operation i, which leaves the value after, unless that
  // configuration was entered before; alone: no other choice needs trying.
  bool take(std::size_t i, Value after, bool alone);
  // Undoes linearizations back to the last choice that had alternatives:
  // the operation then taken, or nullopt when none is left (the key fails).
  std::optional<std::size_t> backtrack();
  // A known operation that leaves the value as it is (a read, a
  // compare-and-set that kept it) and can take effect now, or kEnd.
  std::size_t find_legal_observer() const;
  // Whether unknown operation u, leaving the value after, is worth taking now.
  bool worth_taking(std::size_t u, Value after) const;
  void note_stuck(std::size_t returning_entry);

  struct Frame {
    std::size_t op;
    Value before;
    bool alone;
  };

  std::vector<ModelOp> ops_;
  std::size_t n_;
  std::vector<std::size_t> prev_, next_;
  std::vector<std::uint64_t> bits_;
  std::uint64_t bits_hash_ = 0;
  std::uint64_t known_hash_ = 0;  // bits_hash_ over the known operations only
  bool has_unknown_ = false;
  SeenConfigurations seen_;
  FailedConfigurations failed_;
  std::vector<Frame> stack_;
  Value state_ = kAbsent;
  std::size_t known_left_ = 0;  // known operations not linearized
  std::size_t steps_ = 0;
  bool stuck_seen_ = false;
  Stuck stuck_;
};

}  // namespace synod::sim::wgl
