// Errors are values. Every Status is documented here; none is thrown.
#pragma once

#include <cstdint>
#include <string_view>

namespace synod {

enum class Status : std::uint8_t {
  ok = 0,
  // propose/read on a replica that is not the leader. Nothing was sent; the
  // caller may retry on the leader named by the hint.
  not_leader,
  // The proposal queue is full (Config::pending_bytes_max); retry later.
  overloaded,
  // A command larger than Config::batch_bytes_max.
  too_large,
  // Config::validate found a nonsense setting; the message says which.
  invalid_config,
  // A storage read, write or sync failed. Fatal to the replica.
  storage_error,
  // Stored data failed a checksum or structural check.
  corrupt,
  // Bytes that do not decode into a valid message.
  malformed,
  // A frame or message larger than the configured maximum.
  oversized,
  // A peer id that is not a member of this cluster.
  unknown_peer,
  // The storage is out of space; the replica stops voting.
  no_space,
  // The replica is rejoining after losing its durable state and may not vote
  // or lead yet (docs/invariants.md, invariant 6).
  rejoining,
  // Transport has no connection to the peer or was stopped.
  unavailable,
  // An argument the call does not accept (the comment at the call says which).
  invalid_argument,
  // Another membership change is in progress (one at a time): retry once it
  // governs.
  busy,
  // A membership change would name more member ids at once than a replica
  // can track (64, one kept spare: docs/protocol.md); remove members first.
  member_capacity,
};

constexpr std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::not_leader:
      return "not_leader";
    case Status::overloaded:
      return "overloaded";
    case Status::too_large:
      return "too_large";
    case Status::invalid_config:
      return "invalid_config";
    case Status::storage_error:
      return "storage_error";
    case Status::corrupt:
      return "corrupt";
    case Status::malformed:
      return "malformed";
    case Status::oversized:
      return "oversized";
    case Status::unknown_peer:
      return "unknown_peer";
    case Status::no_space:
      return "no_space";
    case Status::rejoining:
      return "rejoining";
    case Status::unavailable:
      return "unavailable";
    case Status::invalid_argument:
      return "invalid_argument";
    case Status::busy:
      return "busy";
    case Status::member_capacity:
      return "member_capacity";
  }
  return "?";
}

}  // namespace synod
