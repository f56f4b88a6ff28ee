#include "quorum.h"

#include "assert.h"

namespace synod::detail {

Quorum::Quorum(const Config& config) : voters_(config.voters), quorum_size_(config.quorum()) {
  SYNOD_ASSERT(voters_.size() <= 64, "{} voters", voters_.size());
  if (config.planted_bug == PlantedBug::quorum_too_small && quorum_size_ > 1) --quorum_size_;
}

std::optional<unsigned> Quorum::index_of(NodeId id) const {
  for (unsigned i = 0; i < voters_.size(); ++i)
    if (voters_[i] == id) return i;
  return std::nullopt;
}

VoterMask Quorum::bit(NodeId id) const {
  auto i = index_of(id);
  return i ? VoterMask{1} << *i : 0;
}

}  // namespace synod::detail
