// Text forms of core values for script output. The scripts' expected output
// is a specification, so every form here is stable and compact:
//   ballot    round.node            (1.2)
//   value     noop | {cmd,cmd}
//   entry     slot@ballot:value     (3@1.2:{x})   an accepted entry
//   chosen    slot:value            (3:{x})       an applied entry
//   message   from->to type field=value ...
#pragma once

#include <string>
#include <vector>

#include "synod/message.h"
#include "synod/ready.h"
#include "synod/replica.h"
#include "synod/storage.h"

namespace synod::script {

std::string to_text(NodeId id);  // "none" for NodeId{}
std::string to_text(Ballot b);
std::string to_text(const Value& v);
std::string to_text(const Membership& m);
std::string to_text(const Entry& e);
std::string chosen_text(const Entry& e);
std::string to_text(const std::vector<Entry>& entries);
std::string to_text(const HardState& hs);
// Only the fields the message type defines (message.h), so a line reads as
// the protocol step it is.
std::string to_text(const Message& m);
std::string to_text(const ProposalOutcome& o);
// One status line: role, leader, ballot, promised, commit, applied, last_slot.
std::string to_text(const ReplicaInfo& i);

}  // namespace synod::script
