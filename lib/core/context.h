// State shared by the proposer, acceptor and learner of one replica, and the
// outbox they fill for the next Ready.
#pragma once

#include <optional>
#include <vector>

#include "assert.h"
#include "log_window.h"
#include "planted_bugs.h"
#include "quorum.h"
#include "rng.h"
#include "synod/config.h"
#include "synod/ready.h"
#include "synod/replica.h"
#include "synod/storage.h"

namespace synod::detail {

// What the next Ready carries. Messages leave only after the hard state and
// entries staged with them are durable (docs/invariants.md, invariant 6).
struct Outbox {
  std::optional<Snapshot> snapshot;  // to save, with keep_from
  Slot keep_from{};
  std::optional<Snapshot> restore;       // for the host's state machine
  std::optional<Membership> membership;  // the latest configuration, when it changed
  bool hard_state_dirty = false;
  bool must_sync = false;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<ProposalOutcome> outcomes;
  std::vector<ReadState> reads;

  bool empty() const {
    return !snapshot && !restore && !membership && !hard_state_dirty && entries.empty() &&
           messages.empty() && outcomes.empty() && reads.empty();
  }
};

struct Context {
  explicit Context(const Config& c)
      : bug(testing::planted_bug()),
        config(c),
        quorum(c, bug),
        rng(c.seed ^ (c.id.value * 0x9e37)) {}

  // The planted bug this replica was constructed with (test-only).
  PlantedBug bug;
  Config config;
  Quorum quorum;
  Rng rng;
  LogWindow log;
  // Invariant: hard.promised never decreases (docs/invariants.md, invariant 1).
  HardState hard;
  // The newest snapshot this replica holds (taken by its host or installed
  // from a peer); every slot up to its slot is compacted or may be.
  Snapshot snapshot;
  Outbox out;

  // Best guess of the current leader, for hints and catch-up.
  NodeId leader{};
  // Ticks since this replica last heard a live leader (stickiness, timeouts).
  std::uint64_t ticks_since_leader = 0;
  // Highest round seen in any message: a new ballot goes above it.
  std::uint64_t max_round_seen = 0;
  // Messages dropped unread, by reason (input_bounds.h, the learner).
  RefusedCounts refused;

  NodeId self() const { return config.id; }
  bool heard_leader_recently() const {
    return leader.valid() && ticks_since_leader < config.election_ticks;
  }
  bool planted(PlantedBug b) const { return bug == b; }

  void send(Message m) {
    m.from = config.id;
    m.group = config.group;
    out.messages.push_back(std::move(m));
  }

  // Raise the promise; durable before any message of this Ready leaves.
  void promise(Ballot b) {
    SYNOD_ASSERT(b >= hard.promised, "promise would go back");
    if (b == hard.promised) return;
    hard.promised = b;
    if (b.round > max_round_seen) max_round_seen = b.round;
    if (planted(PlantedBug::skip_persist_before_send)) return;
    // Invariant 6: the new promise is synced before this Ready's messages.
    out.hard_state_dirty = true;
    out.must_sync = true;
  }

  // Stage an entry for the next Ready, durable before its messages leave.
  void persist(const Entry& e) {
    SYNOD_ASSERT(e.slot.value != 0, "persisting slot 0");
    if (planted(PlantedBug::skip_persist_before_send)) return;
    out.entries.push_back(e);
    out.must_sync = true;
  }

  // Invariant 5 (docs/invariants.md): the commit index never moves back.
  void set_commit(Slot to) {
    Slot from = log.commit();
    SYNOD_ASSERT(to >= from, "commit would move back from {} to {}", from.value, to.value);
    log.advance_commit(to);
    learn_configs(from, log.commit());
    if (log.commit() > hard.commit) {
      hard.commit = log.commit();
      out.hard_state_dirty = true;
    }
    SYNOD_ASSERT(hard.commit >= log.commit(), "durable commit {} behind {}", hard.commit.value,
                 log.commit().value);
  }

  // Configurations chosen in (after, upto] join the membership; those that
  // no longer govern any slot after upto go.
  void learn_configs(Slot after, Slot upto) {
    SYNOD_ASSERT(upto <= log.commit(), "configurations learnt up to {}, above commit {}",
                 upto.value, log.commit().value);
    bool changed = false;
    for (Slot s = after.next(); s <= upto; s = s.next()) {
      const Record* r = log.find(s);
      if (!r || !r->value.is_config()) continue;
      std::optional<Membership> m = membership_of(r->value);
      SYNOD_ASSERT(m.has_value(), "slot {} holds a malformed configuration", s.value);
      // Those no longer governing free their member bits first.
      quorum.prune(s.prev());
      quorum.on_chosen(s, *m);
      changed = true;
    }
    quorum.prune(upto);
    if (changed) out.membership = quorum.latest();
  }

  // A snapshot to save in the next Ready; storage then drops entries below
  // keep_from, so none staged below it may be saved after it.
  void save_snapshot(const Snapshot& snap, Slot keep_from) {
    // Snapshots hold chosen values only, and storage keeps the tail above.
    SYNOD_ASSERT(snap.meta.slot <= log.commit() && keep_from <= snap.meta.slot.next(),
                 "snapshot at {} (keep from {}) past commit {}", snap.meta.slot.value,
                 keep_from.value, log.commit().value);
    snapshot = snap;
    out.snapshot = snap;
    out.keep_from = keep_from;
    std::erase_if(out.entries, [&](const Entry& e) { return e.slot < keep_from; });
  }

  void set_voting(bool voting) {
    if (hard.voting == voting) return;
    hard.voting = voting;
    out.hard_state_dirty = true;
    out.must_sync = true;
  }
};

}  // namespace synod::detail
