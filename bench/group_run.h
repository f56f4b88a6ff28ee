// synod-bench --groups N: many Paxos groups per process over TCP, one
// GroupHost per replica process (group_node.h), and its report.
#pragma once

#include "options.h"
#include "report.h"

namespace synod::bench {

// The parent's side: starts the replica processes, measures, prints the text
// report (and the JSON with --json). The exit status.
int run_groups(const BenchOptions& o, const Context& c);
// --replica-mode with --groups: one replica process until SIGTERM.
int run_group_replica(const BenchOptions& o);

}  // namespace synod::bench
