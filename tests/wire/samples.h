// Messages for the wire tests, the corpus generator and the fuzz target.
#pragma once

#include <string>
#include <vector>

#include "synod/message.h"

namespace synod::wire::test {

// A batch value (shorthand).
Value batch(std::vector<std::string> commands);

// One message of every MessageType, each with the fields its type uses set,
// and between them noops, empty batches, empty and binary commands, and
// extreme integers. prepare .. timeout_now come first, in enum order (tests
// pick them by index); then snapshot transfer: a resuming catchup_request and
// two snapshot_chunks. Every one satisfies the rules of lib/wire/synod.fbs.
std::vector<Message> sample_messages();

}  // namespace synod::wire::test
