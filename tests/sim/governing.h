// Which configuration governs each slot, as docs/protocol.md ("Membership") defines it (not
// as the replicas compute it, so a replica that gets it wrong is caught): the
// one chosen at the highest slot <= s - alpha, else the initial one. The
// checker learns chosen values in slot order (every slot is applied by some
// replica before any replica restores a snapshot past it), so it knows the
// configuration of slot s once every slot up to s - alpha is known chosen.
#pragma once

#include <cstdint>
#include <vector>

#include "synod/membership.h"
#include "synod/value.h"

namespace synod::sim {

class Governing {
 public:
  Governing(Membership initial, std::uint64_t alpha);

  // Slot known() + 1 is chosen with value v.
  void learn(const Value& v);
  Slot known() const { return known_; }
  // The configuration governing s, or nullptr while a slot it depends on is
  // not known chosen yet.
  const Membership* at(Slot s) const;
  // A majority of m's voters among these nodes.
  static bool is_majority(const Membership& m, const std::vector<std::uint64_t>& nodes);

 private:
  struct Governs {
    Slot from;
    Membership membership;
  };
  std::uint64_t alpha_;
  Slot known_{};
  std::vector<Governs> history_;  // ascending by from, never empty
};

}  // namespace synod::sim
