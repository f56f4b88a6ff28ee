// Strong identifier types of the protocol. Never a bare integer across the API.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace synod {

// A replica's identity in its cluster. 0 is reserved for "nobody".
struct NodeId {
  std::uint64_t value = 0;
  constexpr auto operator<=>(const NodeId&) const = default;
  constexpr bool valid() const { return value != 0; }
};

// A log position. Slots start at 1; Slot{0} means "before the first slot".
struct Slot {
  std::uint64_t value = 0;
  constexpr auto operator<=>(const Slot&) const = default;
  constexpr Slot next() const { return Slot{value + 1}; }
  constexpr Slot prev() const { return Slot{value == 0 ? 0 : value - 1}; }
};

// Paxos ballot: ordered by round, then by proposer. The node id in the ballot
// makes ballots unique per proposer (docs/invariants.md, invariant 7).
struct Ballot {
  std::uint64_t round = 0;
  NodeId node{};
  constexpr auto operator<=>(const Ballot&) const = default;
  constexpr bool is_zero() const { return round == 0 && !node.valid(); }
};

// Messages carry a group id so one process can host many groups over one
// transport connection per peer.
struct GroupId {
  std::uint64_t value = 0;
  constexpr auto operator<=>(const GroupId&) const = default;
};

// Identifies one call of Replica::propose; reported back in a ProposalOutcome.
struct Ticket {
  std::uint64_t value = 0;
  constexpr auto operator<=>(const Ticket&) const = default;
};

}  // namespace synod

template <>
struct std::hash<synod::NodeId> {
  std::size_t operator()(synod::NodeId id) const noexcept {
    return std::hash<std::uint64_t>{}(id.value);
  }
};
