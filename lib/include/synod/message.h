// The core's messages. Transports never see these: hosts encode them with
// lib/wire before sending (or pass them directly in-process).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "synod/types.h"
#include "synod/value.h"

namespace synod {

enum class MessageType : std::uint8_t {
  // Phase 1a. ballot: the candidate's; slot: first slot whose accepted entries
  // the acceptor must report.
  prepare = 1,
  // Phase 1b. ballot: the promised ballot; slot: the first slot this chunk
  // covers; slot_end: where the next chunk starts; more: chunks remain;
  // entries: accepted entries in [slot, slot_end); commit: the acceptor's
  // chosen prefix (entries at or below it are chosen values).
  promise = 2,
  // Phase 2a. ballot: the leader's; entries: values for consecutive slots, all
  // in this ballot; commit: the leader's commit index.
  accept = 3,
  // Phase 2b. ballot: the accepted ballot; [slot, slot_end): the slots.
  accepted = 4,
  // Leader liveness. ballot: the leader's; commit: its commit index;
  // slot: the read-confirmation round (ReadIndex), 0 when none.
  heartbeat = 5,
  // Answer to heartbeat. ballot: the leader's; commit: the follower's;
  // slot: the round echoed.
  heartbeat_ack = 6,
  // A ballot below the sender's promise. ballot: the sender's promise;
  // slot: echo of the rejected request's slot.
  reject = 7,
  // Ask for chosen entries from slot; commit: how far the asker wants to go.
  // When the receiver compacted below slot it answers with a snapshot_chunk
  // instead: slot_end names the snapshot being assembled from this receiver
  // (Slot{0}: none) and offset the bytes already held, so a transfer resumes
  // where it stopped.
  catchup_request = 8,
  // Chosen entries only, consecutive from slot; commit: the sender's.
  catchup_reply = 9,
  // A replica that lost its durable state asks every voter for its promise.
  // slot: a nonce of this incarnation.
  rejoin_query = 10,
  // Answer to rejoin_query. ballot: the sender's promise; commit: its commit;
  // slot: the nonce echoed.
  rejoin_reply = 11,
  // Pre-vote: would the receiver promise this ballot? Nothing is promised or
  // persisted; a follower campaigns only after a majority said yes, so a
  // partitioned replica cannot raise ballots and depose a healthy leader.
  // ballot: the ballot the sender would campaign with.
  probe = 12,
  // Answer to probe. ballot: the probed ballot; reject: would not promise it.
  probe_reply = 13,
  // Leadership transfer: the leader, having brought the receiver up to date,
  // asks it to campaign at once (force: bypassing pre-vote and stickiness).
  // ballot: the leader's.
  timeout_now = 14,
  // One piece of the sender's snapshot, answering a catchup_request below its
  // compaction point (pull-based: one request, one chunk, so the receiver
  // sets the pace). slot: the request's slot echoed; slot_end: the snapshot's
  // slot; offset: where payload starts in the snapshot image; more: bytes
  // follow; commit: the sender's. The image holds chosen values only.
  snapshot_chunk = 15,
  // A follower's linearizable read (Replica::read on a follower) asks the
  // leader for a read index. slot: the follower's request id.
  read_index_request = 16,
  // The leader confirmed its ballot with a majority after the request came:
  // commit is the read index (serve once applied reaches it). slot: the
  // request id echoed; reject: the receiver does not lead (or stopped before
  // confirming); nothing was read, retry elsewhere.
  read_index_reply = 17,
  // Node heartbeat (synod::GroupSet, docs/groups.md): one per peer node per
  // heartbeat period, group 0, never stepped into a Replica. slot: the
  // sender's incarnation; beats: the group heartbeats and acks it carries.
  node_heartbeat = 18,
  // Host message (docs/groups.md, "Host messages"): opaque bytes from one
  // node's host to another's, for protocols above consensus that run
  // between groups (synod-kv's cross-shard transactions). Group 0, no
  // ballot, never stepped into a Replica or a GroupSet. payload: the bytes.
  host_message = 19,
};

std::string_view to_string(MessageType t);

// A group heartbeat or heartbeat_ack carried in a node_heartbeat: the
// fields of the Message it stands for (from and to are the node
// heartbeat's).
struct GroupBeat {
  MessageType type = MessageType::heartbeat;  // heartbeat or heartbeat_ack
  GroupId group{};
  Ballot ballot{};
  Slot slot{};
  Slot commit{};
  bool quiesce = false;
  friend bool operator==(const GroupBeat&, const GroupBeat&) = default;
};

struct Message {
  MessageType type = MessageType::heartbeat;
  GroupId group{};
  NodeId from{};
  NodeId to{};
  Ballot ballot{};
  // A slot for the log messages; other types reuse it for a number of their
  // own (no wire field added for each):
  //   prepare, promise, accepted, catchup_*, snapshot_chunk: a slot;
  //   heartbeat, heartbeat_ack: the read-confirmation round (0: none);
  //   reject: the rejected request's slot, echoed;
  //   rejoin_query, rejoin_reply: the incarnation's nonce;
  //   read_index_request, read_index_reply: the follower's request id;
  //   accept, probe, probe_reply, timeout_now: unused (0).
  Slot slot{};
  // promise: where the next chunk starts. accepted: one past the last slot.
  // catchup_request: the snapshot being assembled. snapshot_chunk: its slot.
  Slot slot_end{};
  Slot commit{};
  // promise: more chunks follow from slot_end. snapshot_chunk: more bytes.
  bool more = false;
  // prepare: bypass leader stickiness (rejoin after amnesia, leadership
  // transfer); the acceptor answers even while it hears a live leader.
  bool force = false;
  // heartbeat: the leader's group is idle and it falls asleep; a follower
  // holding exactly the leader's log sleeps too (Config::quiesce).
  bool quiesce = false;
  // probe_reply: the receiver would not promise the probed ballot.
  // read_index_reply: no read index (not leading). Unused by every other type.
  bool reject = false;
  std::vector<Entry> entries;
  // catchup_request, snapshot_chunk: a byte offset into a snapshot image.
  std::uint64_t offset = 0;
  // snapshot_chunk: image bytes from offset. host_message: the host's bytes.
  std::string payload;
  // node_heartbeat: the group beats it carries.
  std::vector<GroupBeat> beats;

  friend bool operator==(const Message&, const Message&) = default;
};

}  // namespace synod
