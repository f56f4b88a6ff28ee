// The RESP errors synod-kv answers when the replica turns a request away, or
// ends it without committing. Shared by client commands and CLUSTER.
#pragma once

#include <string>

#include "address_book.h"
#include "synod/replica.h"

namespace synod::kv {

// A refusal returned at once by propose, read or change_membership: -MOVED
// for not_leader, -BUSY when overloaded, -TRYAGAIN while rejoining, else -ERR.
std::string refusal(const ProposeResult& r, const AddressBook& book);

// A proposal that ended without committing: -MOVED when it was never sent
// (not_leader), -UNKNOWN when a later leader may still choose it.
// Precondition: o.outcome != committed.
std::string not_committed(const ProposalOutcome& o, const AddressBook& book);

}  // namespace synod::kv
