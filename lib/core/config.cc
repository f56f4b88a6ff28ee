#include "synod/config.h"

#include <fmt/format.h>

#include <algorithm>

namespace synod {

std::size_t Config::quorum() const { return voters.size() / 2 + 1; }

Status Config::validate(std::string* why) const {
  auto fail = [&](std::string text) {
    if (why) *why = std::move(text);
    return Status::invalid_config;
  };
  if (!id.valid()) return fail("id must be non-zero");
  if (voters.empty()) return fail("voters must not be empty");
  if (voters.size() > 64) return fail(fmt::format("at most 64 voters, got {}", voters.size()));
  for (std::size_t i = 0; i < voters.size(); ++i) {
    if (!voters[i].valid()) return fail("voter ids must be non-zero");
    for (std::size_t j = i + 1; j < voters.size(); ++j)
      if (voters[i] == voters[j])
        return fail(fmt::format("voter {} listed twice", voters[i].value));
  }
  if (voters.size() + learners.size() > 64)
    return fail(fmt::format("at most 64 members, got {}", voters.size() + learners.size()));
  for (std::size_t i = 0; i < learners.size(); ++i) {
    if (!learners[i].valid()) return fail("learner ids must be non-zero");
    if (std::find(voters.begin(), voters.end(), learners[i]) != voters.end())
      return fail(fmt::format("{} is both a voter and a learner", learners[i].value));
    for (std::size_t j = i + 1; j < learners.size(); ++j)
      if (learners[i] == learners[j])
        return fail(fmt::format("learner {} listed twice", learners[i].value));
  }
  if (std::find(voters.begin(), voters.end(), id) == voters.end() &&
      std::find(learners.begin(), learners.end(), id) == learners.end())
    return fail(fmt::format("id {} is neither a voter nor a learner", id.value));
  if (heartbeat_ticks == 0) return fail("heartbeat_ticks must be at least 1");
  if (election_ticks <= heartbeat_ticks)
    return fail(fmt::format("election_ticks ({}) must exceed heartbeat_ticks ({})", election_ticks,
                            heartbeat_ticks));
  if (max_inflight == 0) return fail("max_inflight must be at least 1");
  if (batch_count_max == 0) return fail("batch_count_max must be at least 1");
  if (batch_bytes_max == 0) return fail("batch_bytes_max must be at least 1");
  if (message_bytes_max < batch_bytes_max)
    return fail(fmt::format("message_bytes_max ({}) must be at least batch_bytes_max ({})",
                            message_bytes_max, batch_bytes_max));
  if (pending_bytes_max < batch_bytes_max)
    return fail(fmt::format("pending_bytes_max ({}) must be at least batch_bytes_max ({})",
                            pending_bytes_max, batch_bytes_max));
  if (lease_reads && max_drift_ticks >= election_ticks)
    return fail(fmt::format("max_drift_ticks ({}) must be below election_ticks ({})",
                            max_drift_ticks, election_ticks));
  if (snapshot_chunk_bytes == 0) return fail("snapshot_chunk_bytes must be at least 1");
  return Status::ok;
}

}  // namespace synod
