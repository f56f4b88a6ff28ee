// Cluster membership: who votes, who only learns. A membership is a value in
// the log (ValueKind::config): chosen at slot i it governs slots from
// i + Config::alpha, so a leader, which never has more than alpha slots in
// flight, always knows the configuration of every slot it proposes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synod/types.h"
#include "synod/value.h"

namespace synod {

struct Membership {
  std::vector<NodeId> voters;
  // Members that receive the log but never count in a quorum.
  std::vector<NodeId> learners;

  bool is_voter(NodeId id) const;
  bool is_learner(NodeId id) const;
  bool is_member(NodeId id) const { return is_voter(id) || is_learner(id); }
  bool empty() const { return voters.empty() && learners.empty(); }
  friend bool operator==(const Membership&, const Membership&) = default;
};

// A change a leader proposes (Replica::change_membership). One at a time:
// the next is refused until the last one governs.
enum class MembershipOp : std::uint8_t {
  // A member that only learns (it never votes).
  add_learner = 0,
  // A new voter: it joins as a learner and the leader promotes it once it
  // has caught up (Config::promote_lag), so adding never costs availability.
  add_voter = 1,
  // A learner becomes a voter now.
  promote = 2,
  // A voter or learner leaves. A removed leader steps down once the change is
  // chosen, handing over to a remaining voter.
  remove = 3,
};

std::string_view to_string(MembershipOp op);

// The value a configuration travels as, and back (nullopt: malformed).
Value config_value(const Membership& m);
std::optional<Membership> membership_of(const Value& v);

std::string encode_membership(const Membership& m);
std::optional<Membership> decode_membership(std::string_view bytes);

}  // namespace synod
