// The message invariants the wire enforces beyond FlatBuffers structure (the
// `Invariant:` comments of synod.fbs), shared by the encoder (refuse to send
// what a peer would refuse) and the decoder (refuse to deliver it).
//
// Only context-free rules live here. Membership, group and ballot ownership
// are the core's business (lib/core/message_check.h): a peer's view of them
// may legitimately differ from ours, and dropping is then the core's choice.
#pragma once

#include <cstdint>

#include "synod/message.h"
#include "synod/wire.h"

namespace synod::wire::detail {

// True for every MessageType this build knows; the switch without default
// makes a new enumerator a compile error here until the codec learns it.
bool known_type(MessageType t);
bool known_kind(ValueKind k);

// ok (consumed 0) if `m` satisfies every rule and every count in `limits`;
// otherwise the first problem found (status, reason, sentence).
DecodeResult check_message(const Message& m, const WireLimits& limits);

}  // namespace synod::wire::detail
