// Everything a Replica is told at construction. validate() before use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "synod/status.h"
#include "synod/types.h"

namespace synod {

struct Config {
  NodeId id{};
  GroupId group{};
  // The membership the log starts with (slot 1), this replica among its
  // voters or learners. A replica joining a running cluster names the
  // members as they are now; it learns the exact history from the log or a
  // snapshot. At most 64 members.
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  // Time is ticks. A follower that hears no leader for a random number of
  // ticks in [election_ticks, 2 * election_ticks) starts an election.
  std::uint32_t election_ticks = 10;
  // The leader sends heartbeats (and resends unanswered requests) every
  // heartbeat_ticks. Must be below election_ticks.
  std::uint32_t heartbeat_ticks = 1;

  // Pipelining: slots in flight past the commit index, at most.
  std::uint32_t max_inflight = 256;
  // Membership: a configuration chosen at slot i governs slots from
  // i + alpha. The leader keeps at most min(max_inflight, alpha) slots in
  // flight, so it always knows the configuration of a slot it proposes.
  // 0: alpha = max_inflight.
  std::uint32_t alpha = 0;
  // A voter added with MembershipOp::add_voter is promoted once its commit
  // index is within this many slots of the leader's.
  std::uint64_t promote_lag = 64;
  // Batching: commands and command bytes in one slot, at most.
  std::uint32_t batch_count_max = 1024;
  std::uint32_t batch_bytes_max = 1u << 20;
  // Bytes of entries in one message (promise chunks, accepts, catch-up).
  std::uint32_t message_bytes_max = 4u << 20;
  // Bytes of proposals queued but not yet in a slot; propose() answers
  // overloaded beyond it.
  std::uint64_t pending_bytes_max = 64u << 20;

  // Log compaction (Replica::compact): chosen entries kept below the
  // snapshot's slot, so a replica a little behind catches up with entries
  // rather than the whole snapshot. At most compaction_tail slots, and at
  // most compaction_tail_bytes of commands (Value::byte_size, whole slots;
  // 0: no byte limit), whichever keeps less: with large batches a slot
  // count alone can keep gigabytes in memory (ReplicaInfo::
  // compactions_cut_by_bytes counts the compactions the bytes cut short).
  std::uint64_t compaction_tail = 1000;
  std::uint64_t compaction_tail_bytes = 64u << 20;
  // Bytes of snapshot image in one snapshot_chunk (at most half of
  // message_bytes_max is used, whatever this says).
  std::uint32_t snapshot_chunk_bytes = 1u << 20;

  // Lease reads (off by default): a leader that heard from a majority within
  // election_ticks - max_drift_ticks of its own ticks answers reads at once,
  // without a heartbeat round. Assumes no replica's clock runs more than
  // max_drift_ticks - 1 ticks per election timeout slower or faster than
  // another's (tick granularity costs one);
  // a new leader waits an election timeout before its first accepts, so an
  // old leader's lease has run out. docs/protocol.md has the argument.
  bool lease_reads = false;
  std::uint32_t max_drift_ticks = 2;

  // Quiescence (docs/protocol.md, "Quiescence"). Off by default: a host that
  // runs one group needs no more. When on, a leader whose group is idle
  // (nothing queued or in flight, no read, membership change or transfer
  // pending, every member acknowledged its last slot and its commit index)
  // sends its next heartbeat marked quiesce and falls asleep; a follower that
  // holds exactly that log sleeps on receipt. A sleeping replica's tick()
  // does nothing, so a process with thousands of idle groups ticks none of
  // them. The price: a sleeping follower no longer times its leader out by
  // itself. The host must watch the leader's node (any frame from it, and a
  // node heartbeat every heartbeat period) and call wake() with how long it
  // has been silent (synod::GroupSet does this).
  bool quiesce = false;

  // Seeds the PRNG behind election timeouts, rejoin nonces and follower read
  // ids. Same seed, same behaviour. Give every start of a replica its own
  // seed (e.g. from a clock): nonces and ids must not repeat across restarts.
  // startup_seed() (synod/seed.h) draws one; UvHost does when this is left at 1.
  std::uint64_t seed = 1;

  // The host's state machine already holds every slot up to this one (it
  // survived the restart): committed entries start after it.
  Slot applied{};

  // True when this replica's storage is empty but the cluster may have run
  // before (new disk, wiped data, in-memory storage after a restart). Such a
  // replica rejoins before it votes (docs/protocol.md, "Rejoining after
  // amnesia"); a brand-new cluster with it set everywhere starts once every
  // voter has answered. False only when bootstrapping a brand-new cluster:
  // it then votes at once. This is synod-kv's --bootstrap (which sets it
  // false). Read only when the storage is empty.
  bool join_existing = false;

  // ok, or invalid_config with *why set to a sentence naming the setting.
  Status validate(std::string* why) const;

  std::size_t quorum() const;  // a majority of voters
  std::uint32_t effective_alpha() const { return alpha == 0 ? max_inflight : alpha; }
};

}  // namespace synod
