#include "rules.h"

#include <fmt/format.h>

#include "framing.h"
#include "synod/membership.h"

namespace synod::wire::detail {

bool known_type(MessageType t) {
  switch (t) {
    case MessageType::prepare:
    case MessageType::promise:
    case MessageType::accept:
    case MessageType::accepted:
    case MessageType::heartbeat:
    case MessageType::heartbeat_ack:
    case MessageType::reject:
    case MessageType::catchup_request:
    case MessageType::catchup_reply:
    case MessageType::rejoin_query:
    case MessageType::rejoin_reply:
    case MessageType::probe:
    case MessageType::probe_reply:
    case MessageType::timeout_now:
    case MessageType::snapshot_chunk:
    case MessageType::read_index_request:
    case MessageType::read_index_reply:
    case MessageType::node_heartbeat:
    case MessageType::host_message:
      return true;
  }
  return false;
}

bool known_kind(ValueKind k) {
  switch (k) {
    case ValueKind::noop:
    case ValueKind::commands:
    case ValueKind::config:
      return true;
  }
  return false;
}

namespace {

DecodeResult invalid(std::string what) {
  return refuse(Status::malformed, WireError::invalid, std::move(what), 0);
}

// "a prepare", "an accept": the refusal sentences read as English.
std::string named(MessageType t) {
  const std::string_view name = to_string(t);
  return fmt::format("{} {}", name.starts_with('a') ? "an" : "a", name);
}

// Invariant 7: a non-zero ballot names its proposer.
bool sound_ballot(Ballot b) { return b.node.valid() || b.round == 0; }

bool carries_entries(MessageType t) {
  return t == MessageType::promise || t == MessageType::accept || t == MessageType::catchup_reply;
}

// Snapshot transfer fields: a catchup_request says where to resume, a
// snapshot_chunk where its bytes go. Nothing else has an image to point into.
bool carries_offset(MessageType t) {
  return t == MessageType::catchup_request || t == MessageType::snapshot_chunk;
}
bool carries_payload(MessageType t) {
  return t == MessageType::snapshot_chunk || t == MessageType::host_message;
}

// The sender's own ballot, which it must have picked (round >= 1, its id).
// Replies (snapshot_chunk among them) carry whatever they answer, or nothing.
bool needs_ballot(MessageType t) {
  return t == MessageType::prepare || t == MessageType::accept || t == MessageType::heartbeat ||
         t == MessageType::probe || t == MessageType::timeout_now;
}

DecodeResult check_counts(const Message& m, const WireLimits& limits) {
  if (m.entries.size() > limits.entries_max) {
    return refuse(
        Status::oversized, WireError::oversized,
        fmt::format("{} entries exceed entries_max {}", m.entries.size(), limits.entries_max), 0);
  }
  std::size_t commands = 0;
  for (const Entry& e : m.entries) {
    commands += e.value.commands().size();
    for (std::string_view c : e.value.commands()) {
      if (c.size() > limits.command_bytes_max) {
        return refuse(Status::oversized, WireError::oversized,
                      fmt::format("a command of {} bytes at slot {} exceeds command_bytes_max {}",
                                  c.size(), e.slot.value, limits.command_bytes_max),
                      0);
      }
    }
  }
  if (commands > limits.commands_max) {
    return refuse(Status::oversized, WireError::oversized,
                  fmt::format("{} commands exceed commands_max {}", commands, limits.commands_max),
                  0);
  }
  // A lower bound of the frame: the sender's snapshot_chunk_bytes must leave
  // room for the header fields (docs/wire.md, "Limits").
  if (m.payload.size() > frame_max(limits)) {
    return refuse(Status::oversized, WireError::oversized,
                  fmt::format("a payload of {} bytes exceeds frame_bytes_max {}", m.payload.size(),
                              frame_max(limits)),
                  0);
  }
  return {};
}

DecodeResult check_snapshot_fields(const Message& m) {
  if (!m.payload.empty() && !carries_payload(m.type))
    return invalid(fmt::format("{} carries {} payload bytes", named(m.type), m.payload.size()));
  if (m.offset != 0 && !carries_offset(m.type))
    return invalid(fmt::format("{} with offset {}", named(m.type), m.offset));
  // The receiver adds them to find where the next chunk starts.
  if (m.payload.size() > UINT64_MAX - m.offset)
    return invalid(fmt::format("a snapshot_chunk of {} bytes at offset {} ends past 2^64",
                               m.payload.size(), m.offset));
  return {};
}

DecodeResult check_entries(const Message& m) {
  if (!m.entries.empty() && !carries_entries(m.type))
    return invalid(fmt::format("{} carries {} entries", named(m.type), m.entries.size()));
  if (m.type == MessageType::accept && m.entries.empty())
    return invalid("an accept without entries");
  const bool consecutive = m.type == MessageType::accept || m.type == MessageType::catchup_reply;
  Slot prev{};
  for (const Entry& e : m.entries) {
    if (!known_kind(e.value.kind()))
      return invalid(fmt::format("entry at slot {} has an unknown value kind", e.slot.value));
    if (e.value.is_config() && !membership_of(e.value))
      return invalid(fmt::format("entry at slot {} holds a malformed configuration", e.slot.value));
    if (e.slot.value == 0) return invalid("an entry at slot 0");
    if (e.slot <= prev)
      return invalid(
          fmt::format("entry slots not ascending ({} after {})", e.slot.value, prev.value));
    if (consecutive && prev.value != 0 && e.slot != prev.next())
      return invalid(
          fmt::format("{} skips from slot {} to {}", named(m.type), prev.value, e.slot.value));
    if (!sound_ballot(e.ballot))
      return invalid(fmt::format("entry at slot {} has a ballot of round {} without a node",
                                 e.slot.value, e.ballot.round));
    prev = e.slot;
  }
  return {};
}

// Node heartbeats (synod::GroupSet) carry group beats and nothing else of a
// group's; group messages carry none. Only a heartbeat may say quiesce.
DecodeResult check_beats(const Message& m, const WireLimits& limits) {
  if (m.quiesce && m.type != MessageType::heartbeat)
    return invalid(fmt::format("{} marked quiesce", named(m.type)));
  if (m.type != MessageType::node_heartbeat) {
    if (!m.beats.empty())
      return invalid(fmt::format("{} carries {} group beats", named(m.type), m.beats.size()));
    return {};
  }
  if (m.beats.size() > limits.beats_max)
    return refuse(
        Status::oversized, WireError::oversized,
        fmt::format("{} group beats exceed beats_max {}", m.beats.size(), limits.beats_max), 0);
  if (m.group.value != 0 || !m.ballot.is_zero())
    return invalid("a node_heartbeat naming a group or a ballot");
  for (const GroupBeat& g : m.beats) {
    if (g.type != MessageType::heartbeat && g.type != MessageType::heartbeat_ack)
      return invalid(fmt::format("a node_heartbeat carrying {}", named(g.type)));
    if (g.group.value == 0) return invalid("a group beat for group 0");
    if (!sound_ballot(g.ballot))
      return invalid(
          fmt::format("a group beat with a ballot of round {} without a node", g.ballot.round));
    if (g.type == MessageType::heartbeat && (g.ballot.round == 0 || g.ballot.node != m.from))
      return invalid("a group heartbeat whose ballot is not its sender's");
    if (g.quiesce && g.type != MessageType::heartbeat)
      return invalid("a group heartbeat_ack marked quiesce");
  }
  return {};
}

DecodeResult check_ranges(const Message& m) {
  switch (m.type) {
    case MessageType::host_message:
      // The host's bytes and nothing of a group's: a group, ballot or slot
      // would mean the sender confused it with a group message.
      if (m.group.value != 0 || !m.ballot.is_zero() || m.slot.value != 0 || m.slot_end.value != 0 ||
          m.commit.value != 0 || m.more || m.force || m.reject)
        return invalid("a host_message carrying a group message's fields");
      return {};
    case MessageType::promise:
      if (m.slot.value == 0) return invalid("a promise from slot 0");
      if (m.slot_end < m.slot)
        return invalid(fmt::format("a promise with slot_end {} below slot {}", m.slot_end.value,
                                   m.slot.value));
      if (m.more && m.slot_end == m.slot) return invalid("a promise with more but an empty range");
      if (!m.entries.empty() &&
          (m.entries.front().slot < m.slot || m.entries.back().slot >= m.slot_end))
        return invalid("a promise with entries outside [slot, slot_end)");
      return {};
    case MessageType::accepted:
      if (m.slot.value == 0) return invalid("an accepted from slot 0");
      if (m.slot_end <= m.slot)
        return invalid(fmt::format("an accepted with an empty range [{}, {})", m.slot.value,
                                   m.slot_end.value));
      return {};
    case MessageType::catchup_request:
      if (m.slot.value == 0) return invalid("a catchup_request from slot 0");
      if (m.offset != 0 && m.slot_end.value == 0)
        return invalid(fmt::format("a catchup_request holding {} bytes of no snapshot", m.offset));
      return {};
    case MessageType::snapshot_chunk:
      // slot echoes a catchup_request's, so it is >= 1 too.
      if (m.slot.value == 0) return invalid("a snapshot_chunk answering slot 0");
      if (m.slot_end.value == 0) return invalid("a snapshot_chunk of a snapshot at slot 0");
      return {};
    default:
      return {};
  }
}

}  // namespace

DecodeResult check_message(const Message& m, const WireLimits& limits) {
  if (!known_type(m.type))
    return refuse(Status::malformed, WireError::unknown_type,
                  fmt::format("unknown message type {}", static_cast<unsigned>(m.type)), 0);
  if (!m.from.valid() || !m.to.valid())
    return invalid(fmt::format("{} from node {} to node {}: node 0 is nobody", named(m.type),
                               m.from.value, m.to.value));
  if (!sound_ballot(m.ballot))
    return invalid(
        fmt::format("{} with a ballot of round {} without a node", named(m.type), m.ballot.round));
  if (needs_ballot(m.type) && m.ballot.round == 0)
    return invalid(fmt::format("{} without a ballot", named(m.type)));
  if (DecodeResult r = check_counts(m, limits); r.status != Status::ok) return r;
  if (DecodeResult r = check_entries(m); r.status != Status::ok) return r;
  if (DecodeResult r = check_snapshot_fields(m); r.status != Status::ok) return r;
  if (DecodeResult r = check_beats(m, limits); r.status != Status::ok) return r;
  return check_ranges(m);
}

}  // namespace synod::wire::detail
