#include "format.h"

#include <fmt/format.h>

#include <cstdint>

namespace synod::script {

namespace {

// Which Message fields each type gives a meaning to (see message.h).
enum Field : std::uint8_t {
  f_ballot = 1,
  f_slot = 2,
  f_slot_end = 4,
  f_commit = 8,
  f_entries = 16,
  f_offset = 32,  // offset, and the payload's size
  f_payload = 64,
};

unsigned fields_of(MessageType t) {
  switch (t) {
    case MessageType::prepare:
      return f_ballot | f_slot;
    case MessageType::promise:
      return f_ballot | f_slot | f_slot_end | f_commit | f_entries;
    case MessageType::accept:
      return f_ballot | f_commit | f_entries;
    case MessageType::accepted:
      return f_ballot | f_slot | f_slot_end;
    case MessageType::heartbeat:
      return f_ballot | f_commit;
    case MessageType::heartbeat_ack:
      return f_ballot | f_commit;
    case MessageType::reject:
      return f_ballot | f_slot | f_commit;
    case MessageType::catchup_request:
      return f_slot | f_slot_end | f_commit | f_offset;
    case MessageType::read_index_request:
      return f_slot;
    case MessageType::read_index_reply:
      return f_slot | f_commit;
    case MessageType::snapshot_chunk:
      return f_slot | f_slot_end | f_commit | f_offset | f_payload;
    case MessageType::catchup_reply:
      return f_slot | f_commit | f_entries;
    case MessageType::rejoin_query:
      return 0;
    case MessageType::rejoin_reply:
      return f_ballot | f_commit;
    case MessageType::probe:
      return f_ballot;
    case MessageType::timeout_now:
      return f_ballot;
    case MessageType::probe_reply:
      return f_ballot | f_commit;
    case MessageType::node_heartbeat:
      return f_slot;  // the incarnation; its beats are not scripted
    case MessageType::host_message:
      return f_payload;
  }
  return f_ballot | f_slot | f_slot_end | f_commit | f_entries;
}

}  // namespace

std::string to_text(NodeId id) { return id.valid() ? fmt::format("{}", id.value) : "none"; }

std::string to_text(Ballot b) { return fmt::format("{}.{}", b.round, b.node.value); }

std::string to_text(const Membership& m) {
  auto ids = [](const std::vector<NodeId>& v) {
    std::string s;
    for (NodeId id : v) {
      if (!s.empty()) s.push_back(',');
      s.append(std::to_string(id.value));
    }
    return s;
  };
  return fmt::format("voters={{{}}} learners={{{}}}", ids(m.voters), ids(m.learners));
}

std::string to_text(const Value& v) {
  if (v.is_noop()) return "noop";
  if (v.is_config()) {
    auto m = membership_of(v);
    if (!m) return "config(malformed)";
    return fmt::format("config({})", to_text(*m));
  }
  std::string out = "{";
  for (std::string_view c : v.commands()) out.append(out.size() > 1 ? "," : "").append(c);
  return out + "}";
}

std::string to_text(const Entry& e) {
  return fmt::format("{}@{}:{}", e.slot.value, to_text(e.ballot), to_text(e.value));
}

std::string chosen_text(const Entry& e) {
  return fmt::format("{}:{}", e.slot.value, to_text(e.value));
}

std::string to_text(const std::vector<Entry>& entries) {
  std::string out = "[";
  for (const Entry& e : entries) {
    if (out.size() > 1) out += ' ';
    out += to_text(e);
  }
  return out + "]";
}

std::string to_text(const HardState& hs) {
  return fmt::format("promised={} commit={} voting={}", to_text(hs.promised), hs.commit.value,
                     hs.voting);
}

std::string to_text(const Message& m) {
  unsigned f = fields_of(m.type);
  std::string out = fmt::format("{}->{} {}", m.from.value, m.to.value, to_string(m.type));
  if (f & f_ballot) out += " ballot=" + to_text(m.ballot);
  if (f & f_slot) out += fmt::format(" slot={}", m.slot.value);
  if (f & f_slot_end) out += fmt::format(" slot_end={}", m.slot_end.value);
  if (f & f_commit) out += fmt::format(" commit={}", m.commit.value);
  if (f & f_offset) out += fmt::format(" offset={}", m.offset);
  if ((f & f_payload) || !m.payload.empty()) out += fmt::format(" bytes={}", m.payload.size());
  if (m.more) out += " more";
  if (m.force) out += " force";
  if (m.reject) out += " reject";
  // Entries are printed whenever present, even where the type defines none:
  // a malformed message must not look well-formed in a script.
  if ((f & f_entries) || !m.entries.empty()) out += " entries=" + to_text(m.entries);
  return out;
}

std::string to_text(const ProposalOutcome& o) {
  std::string out = fmt::format("ticket={} {}", o.ticket.value, to_string(o.outcome));
  switch (o.outcome) {
    case Outcome::committed:
      return out + fmt::format(" slot={} index={}", o.slot.value, o.index);
    case Outcome::not_leader:
      return out + " hint=" + to_text(o.leader_hint);
    case Outcome::unknown:
      return out;
  }
  return out;
}

std::string to_text(const ReplicaInfo& i) {
  std::string out =
      fmt::format("{}: {} leader={} ballot={} promised={} commit={} applied={} last_slot={}",
                  i.id.value, to_string(i.role), to_text(i.leader), to_text(i.ballot),
                  to_text(i.promised), i.commit.value, i.applied.value, i.last_slot.value);
  if (i.pending_proposals > 0) out += fmt::format(" pending={}", i.pending_proposals);
  if (i.snapshot.value > 0)
    out += fmt::format(" snapshot={} first_slot={}", i.snapshot.value, i.first_slot.value);
  if (i.installing.value > 0)
    out += fmt::format(" installing={} received={}", i.installing.value, i.installing_bytes);
  return out;
}

}  // namespace synod::script
