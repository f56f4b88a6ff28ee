// INFO persistence: the durable log's counters (LogStats), so that an
// operator sees syncs, segments rolled, recycled or zeroed ahead, and
// failed removals without a debugger (docs/kv.md, "Staying leader under
// load", where INFO persistence is listed).
#pragma once

#include "kv_command.h"
#include "synod/log_storage.h"

namespace synod::kv {

// log_format: the --log-format the node runs with (1 or 2).
InfoSection persistence_info(const LogStats& stats, unsigned log_format);

}  // namespace synod::kv
