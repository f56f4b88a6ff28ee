// The script commands: one line of a script in, its output lines out.
//
//   add-nodes N [election=10 heartbeat=1 inflight=256 batch=1024
//                batch-bytes=B msg-bytes=M seed=1 bug=NAME tail=1000 chunk=B]
//   tick ID [COUNT]            tick-all [COUNT]
//   campaign ID                propose ID TEXT
//   process-ready ID|all [stop-before-sync]
//   deliver-msgs ID|all [drop] [from=ID] [type=TYPE]
//   stabilize
//   crash ID [keep=K]          restart ID [join]          wipe ID
//   partition A B              heal
//   compact ID                 (the host snapshots its state machine)
//   status [ID]                log ID
//
// Commands print "ok" when they have nothing else to say, so that every
// expected block is non-empty.
#pragma once

#include <string>

#include "cluster.h"

namespace synod::script {

// Runs one command line on the cluster. Throws CommandError when the line is
// not a valid command, or asks what the cluster cannot do (restart a live
// node, a stabilize that never settles).
Lines run_command(Cluster& cluster, const std::string& line);

}  // namespace synod::script
