// The pure Multi-Paxos state machine: proposer, acceptor and learner in one.
// No I/O, no clocks, no threads: the host drives it from one thread at a time
// (docs/embedding.md).
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "synod/config.h"
#include "synod/membership.h"
#include "synod/message.h"
#include "synod/ready.h"
#include "synod/status.h"
#include "synod/storage.h"

namespace synod {

enum class Role : std::uint8_t { follower, candidate, leader, rejoining };
std::string_view to_string(Role r);

// Messages the replica dropped without acting on them, by reason: input no
// correct peer sends (docs/protocol.md, "Input the core refuses").
struct RefusedCounts {
  // Malformed, for another group or node, or from a stranger.
  std::uint64_t malformed = 0;
  // A ballot round above 2^62, or more than 2^32 above every round seen.
  std::uint64_t round = 0;
  // A slot or commit index above 2^62, an accept whose commit index is not
  // below its slots, catch-up values above the sender's commit index.
  std::uint64_t slot = 0;
  // An answer to no request outstanding: catch-up replies and snapshot
  // chunks from a peer not asked or for slots not asked, promises from a
  // peer not asked.
  std::uint64_t unasked = 0;
  friend bool operator==(const RefusedCounts&, const RefusedCounts&) = default;
};

// A read-only view of a replica, for hosts (INFO), tests and the simulator.
struct ReplicaInfo {
  NodeId id{};
  Role role = Role::follower;
  NodeId leader{};  // best guess; NodeId{} when unknown
  Ballot ballot{};  // the ballot this replica leads or campaigns with
  Ballot promised{};
  Slot commit{};      // chosen prefix held locally
  Slot applied{};     // handed to the host in a Ready
  Slot last_slot{};   // highest slot holding an entry
  Slot first_slot{};  // lowest slot still held (entries below were compacted)
  Slot snapshot{};    // the slot of the replica's snapshot; Slot{0}: none
  // Compactions whose kept tail Config::compaction_tail_bytes made shorter
  // than Config::compaction_tail slots.
  std::uint64_t compactions_cut_by_bytes = 0;
  // A snapshot is arriving from a peer: its slot and the bytes received.
  Slot installing{};
  std::uint64_t installing_bytes = 0;
  std::size_t pending_proposals = 0;
  // The last configuration chosen, and the first slot it governs.
  Membership membership;
  Slot membership_from{};
  RefusedCounts refused;
};

// propose() either queues the command (ticket) or refuses it (status, with a
// leader hint for not_leader).
struct ProposeResult {
  Status status = Status::ok;
  Ticket ticket{};
  NodeId leader_hint{};
  bool ok() const { return status == Status::ok; }
};

class Replica {
 public:
  // Recovers promised ballot, commit index and entries from storage: reads
  // it here only and keeps no reference to it. The host then saves every
  // Ready into that same storage (or one holding the same state).
  // Precondition: config.validate() == ok. Aborts loudly otherwise.
  Replica(const Config& config, const Storage& storage);
  ~Replica();
  Replica(Replica&&) noexcept;
  Replica& operator=(Replica&&) noexcept;

  // One logical tick of the host's timer.
  void tick();
  // A message from a peer. Messages for another group or node, from
  // non-members, or malformed are dropped (safe: Paxos tolerates loss).
  // The replica trusts msg.from: the host checks that it is the peer the
  // frame really came from (Transport::Handler's `from`, the socket).
  void step(const Message& msg);
  // Queue a command for the next slot. Leader only. Tickets are this
  // Replica object's own: one counter shared by propose(), read() and
  // change_membership(), reported only in this replica's Readys. Another
  // replica, or this one constructed again after a restart, numbers its
  // tickets independently, so the same value may name another proposal.
  // The command is copied (once, into its batch's block: synod/value.h), so
  // the caller's bytes need to live only for the call.
  ProposeResult propose(std::string_view command);
  // A linearizable read without writing the log (ReadIndex, section 6.4 of
  // Ongaro's thesis, in Paxos terms): the leader notes its commit index,
  // confirms its ballot with one heartbeat round to a majority (shared by all
  // reads asked meanwhile), and reports a ReadState in a Ready. A new leader
  // first commits a slot in its own ballot. With Config::lease_reads the
  // leader answers at once while its lease holds. On a follower that hears a
  // leader, the follower asks the leader for the index (follower read) and
  // reports the ReadState when it answers: serve once applied here reaches
  // it. not_leader (with a hint) when no leader is known.
  ProposeResult read();
  // A membership change (synod/membership.h), proposed like a command: its
  // outcome reports the ticket. Leader only. busy while another change is in
  // flight or not yet governing; invalid_argument for a change that makes no
  // sense (adding a member, promoting a voter, removing the last voter).
  ProposeResult change_membership(MembershipOp op, NodeId node);
  // Start an election now (tests, leadership transfer by hand).
  void campaign();
  // Leadership transfer: the leader stops taking proposals (not_leader with
  // the target as hint), waits until the target acknowledged every slot in
  // flight, then asks it to campaign at once. Gives up after an election
  // timeout and takes proposals again. not_leader when not leading;
  // unknown_peer when `to` is not another voter.
  Status transfer_leadership(NodeId to);

  // Log compaction. `data` is the host's state machine image after applying
  // every slot up to `slot` (taken at once, or in the background and handed
  // over later). The replica keeps it to send to peers too far behind for
  // entries; the next Ready saves it (Ready::snapshot) and lets the storage
  // drop entries below slot + 1 - Config::compaction_tail (fewer when they
  // hold more than Config::compaction_tail_bytes). invalid_argument
  // when `slot` was not yet handed to the host in a Ready, or is not above
  // the replica's snapshot (an install from a peer overtook it: drop it).
  Status compact(Slot slot, std::string data);

  bool has_ready() const;
  Ready ready();
  // The host finished the Ready: persisted (synced when must_sync), sent,
  // applied. Once per Ready, in the order ready() returned them: a leader
  // counts its own acceptance of rd.entries here.
  void advance(const Ready& rd);

  // Everything at once, for INFO and tests. It copies the membership: a
  // loop that asks every iteration uses role() and leader() instead.
  ReplicaInfo info() const;
  // Cheap, as info().role: rejoining while a replica that lost its state may
  // not vote yet.
  Role role() const;
  // As info().leader: this replica's best guess of the leader, itself while
  // it leads; NodeId{} when unknown. A guess: propose() may still answer
  // not_leader, with a fresher hint.
  NodeId leader() const;

  // Quiescence (Config::quiesce). True while this replica sleeps: tick()
  // does nothing until a step(), propose(), read(), change_membership(),
  // transfer_leadership(), campaign() or wake() rouses it.
  bool quiesced() const;
  // Rouses a sleeping replica (no effect on one awake). The host's
  // node-level liveness tells how long ago it last heard the leader's node:
  // a follower takes its leader as heard leader_silent_ticks ago; at
  // Config::election_ticks or more it forgets the leader and draws its
  // election timeout from [1, election_ticks], so the groups of a dead node
  // do not all campaign in the same tick. A leader wakes with its lease
  // spent (its next read confirms with a heartbeat round) and heartbeats
  // again. A step() into a sleeping replica wakes it as wake(0) would,
  // except a probe from the leader it sleeps under (that leader restarted
  // or lost its ballot), which wakes it as a leader lost, and what it
  // handles asleep (wakes_on).
  void wake(std::uint64_t leader_silent_ticks = 0);
  // Whether step(msg) would rouse this sleeping replica (false when awake).
  // Asleep it answers without waking what changes nothing: the quiesce
  // heartbeat again (or, on a leader, its acknowledgement), a catch-up
  // request, a probe it refuses while its leader counts as heard, a stale
  // probe reply. A host that wakes sleepers itself with the silence of the
  // leader's node (synod::GroupSet) asks this first, so such a message does
  // not wake the group (docs/protocol.md, "Quiescence").
  bool wakes_on(const Message& msg) const;

  class Core;

 private:
  std::unique_ptr<Core> core_;
};

}  // namespace synod
