// The script commands: one line of a script in, its output lines out.
//
//   add-nodes N [election=10 heartbeat=1 inflight=256 batch=1024
//                batch-bytes=B msg-bytes=M seed=1 bug=NAME tail=1000 chunk=B
//                alpha=A promote-lag=64 lease=0|1 drift=2 spare=K]
//                (spare: nodes N+1..N+K start outside the cluster, as learners
//                that joined; a change adds them)
//   tick ID [COUNT]            tick-all [COUNT]
//   campaign ID                propose ID TEXT
//   process-ready ID|all [stop-before-sync]
//   deliver-msgs ID|all [drop] [from=ID] [type=TYPE]
//   stabilize
//   crash ID [keep=K]          restart ID [join]          wipe ID
//   partition A B              heal
//   compact ID                 (the host snapshots its state machine)
//   read ID                    transfer ID TO
//   change ID add-learner|add-voter|promote|remove NODE
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
