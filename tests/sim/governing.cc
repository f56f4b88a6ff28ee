#include "governing.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

namespace synod::sim {

Governing::Governing(Membership initial, std::uint64_t alpha) : alpha_(alpha) {
  history_.push_back(Governs{Slot{1}, std::move(initial)});
}

void Governing::learn(const Value& v) {
  known_ = known_.next();
  if (!v.is_config()) return;
  std::optional<Membership> m = membership_of(v);
  // A malformed configuration chosen is a core bug the replicas assert on;
  // the checker says so in its own words.
  if (!m)
    throw std::runtime_error("slot " + std::to_string(known_.value) +
                             " holds a malformed configuration");
  history_.push_back(Governs{Slot{known_.value + alpha_}, std::move(*m)});
}

const Membership* Governing::at(Slot s) const {
  if (s.value > known_.value + alpha_) return nullptr;
  for (std::size_t i = history_.size(); i-- > 0;)
    if (history_[i].from <= s) return &history_[i].membership;
  return &history_.front().membership;
}

bool Governing::is_majority(const Membership& m, const std::vector<std::uint64_t>& nodes) {
  std::size_t have = 0;
  for (NodeId v : m.voters) have += std::find(nodes.begin(), nodes.end(), v.value) != nodes.end();
  return have >= m.voters.size() / 2 + 1;
}

}  // namespace synod::sim
