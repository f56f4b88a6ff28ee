#include "persistence_info.h"

#include <string>

namespace synod::kv {

InfoSection persistence_info(const LogStats& s, unsigned log_format) {
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  return InfoSection{"persistence",
                     {{"log_format", n(log_format)},
                      {"log_syncs", n(s.syncs)},
                      {"log_batches", n(s.batches)},
                      {"log_bytes_written", n(s.bytes_written)},
                      {"log_segments", n(s.segments)},
                      {"log_segments_created", n(s.segments_created)},
                      {"log_segments_removed", n(s.segments_removed)},
                      {"log_segments_recycled", n(s.segments_recycled)},
                      {"log_spares_taken", n(s.spares_taken)},
                      {"log_spares_missed", n(s.spares_missed)},
                      {"log_spares_zeroed", n(s.spares_zeroed)},
                      {"log_segments_left_early", n(s.segments_left_early)},
                      {"log_snapshots_written", n(s.snapshots_written)},
                      {"log_removals_failed", n(s.removals_failed)}}};
}

}  // namespace synod::kv
