// Names for enums, for logs and traces.
#include "synod/message.h"
#include "synod/ready.h"
#include "synod/replica.h"

namespace synod {

std::string_view to_string(MessageType t) {
  switch (t) {
    case MessageType::prepare:
      return "prepare";
    case MessageType::promise:
      return "promise";
    case MessageType::accept:
      return "accept";
    case MessageType::accepted:
      return "accepted";
    case MessageType::heartbeat:
      return "heartbeat";
    case MessageType::heartbeat_ack:
      return "heartbeat_ack";
    case MessageType::reject:
      return "reject";
    case MessageType::catchup_request:
      return "catchup_request";
    case MessageType::catchup_reply:
      return "catchup_reply";
    case MessageType::rejoin_query:
      return "rejoin_query";
    case MessageType::rejoin_reply:
      return "rejoin_reply";
    case MessageType::probe:
      return "probe";
    case MessageType::probe_reply:
      return "probe_reply";
    case MessageType::timeout_now:
      return "timeout_now";
    case MessageType::snapshot_chunk:
      return "snapshot_chunk";
    case MessageType::read_index_request:
      return "read_index_request";
    case MessageType::read_index_reply:
      return "read_index_reply";
    case MessageType::node_heartbeat:
      return "node_heartbeat";
    case MessageType::host_message:
      return "host_message";
  }
  return "?";
}

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::committed:
      return "committed";
    case Outcome::not_leader:
      return "not_leader";
    case Outcome::unknown:
      return "unknown";
  }
  return "?";
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::follower:
      return "follower";
    case Role::candidate:
      return "candidate";
    case Role::leader:
      return "leader";
    case Role::rejoining:
      return "rejoining";
  }
  return "?";
}

}  // namespace synod
