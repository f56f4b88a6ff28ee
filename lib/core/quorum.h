// Pure quorum arithmetic over the voter set: which voters answered (a bit
// per voter) and whether they form a majority.
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

#include "synod/config.h"
#include "synod/types.h"

namespace synod::detail {

using VoterMask = std::uint64_t;

class Quorum {
 public:
  explicit Quorum(const Config& config);

  // The voter's bit position, or nullopt for a non-member.
  std::optional<unsigned> index_of(NodeId id) const;
  bool is_voter(NodeId id) const { return index_of(id).has_value(); }
  VoterMask bit(NodeId id) const;
  const std::vector<NodeId>& voters() const { return voters_; }
  std::size_t size() const { return voters_.size(); }
  // Invariant: quorum_size_ > size() / 2, so any two quorums intersect (unless
  // the quorum_too_small bug is planted for the gate).
  std::size_t quorum_size() const { return quorum_size_; }
  bool is_quorum(VoterMask mask) const {
    return static_cast<std::size_t>(std::popcount(mask)) >= quorum_size_;
  }

 private:
  std::vector<NodeId> voters_;
  std::size_t quorum_size_;
};

}  // namespace synod::detail
