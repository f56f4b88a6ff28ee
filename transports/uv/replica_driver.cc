// ReplicaDriver: the Ready loop of one replica (replica_driver.h). Moved out
// of UvHost so that GroupHost runs the very same steps for each group.
// fail_ may destroy this driver: every call to it is the last thing done.
#include "replica_driver.h"

#include <fmt/format.h>
#include <uv.h>

namespace synod {

ReplicaDriver::ReplicaDriver(Replica& replica, Slot applied, ReplicaHooks hooks,
                             ReplicaPersistence persistence, IterationWork& work, Send send,
                             Fail fail, Log log)
    : replica_(replica),
      hooks_(std::move(hooks)),
      persistence_(std::move(persistence)),
      work_(work),
      send_(std::move(send)),
      fail_(std::move(fail)),
      log_(std::move(log)),
      applied_(applied),
      applied_at_snapshot_(replica.info().snapshot),
      self_(replica.info().id) {}

bool ReplicaDriver::only_voter(const Membership& m) const {
  return m.voters.size() == 1 && m.voters.front() == self_;
}

ProposeResult ReplicaDriver::propose(std::string_view command, Done done) {
  ProposeResult r = replica_.propose(command);
  if (r.ok()) waiting_.add(r.ticket.value, std::move(done));
  return r;
}

ProposeResult ReplicaDriver::read(ReadDone done) {
  ProposeResult r = replica_.read();
  if (r.ok()) reads_.add(r.ticket.value, std::move(done));
  return r;
}

ProposeResult ReplicaDriver::change_membership(MembershipOp op, NodeId node, Done done) {
  ProposeResult r = replica_.change_membership(op, node);
  if (r.ok()) waiting_.add(r.ticket.value, std::move(done));
  return r;
}

void ReplicaDriver::report_membership(const Membership& m) {
  if (membership_ && *membership_ == m) return;
  membership_ = m;
  if (hooks_.on_membership) hooks_.on_membership(m);
}

void ReplicaDriver::abandon() {
  staged_.clear();
  // The process keeps running but this replica does not: for its callers the
  // outcome is unknown (a proposal may still be chosen by the others).
  waiting_.drain([](std::uint64_t ticket, Done done) {
    done({Ticket{ticket}, Outcome::unknown, {}, 0, {}}, {});
  });
  reads_.drain([](std::uint64_t, ReadDone done) { done(Status::unavailable, {}); });
  ready_reads_.drain([](std::uint64_t, ReadDone done) { done(Status::unavailable, {}); });
}

bool ReplicaDriver::run() {
  // A Ready is persisted, sent and applied whole; once this iteration's
  // apply budget is spent the rest waits for the next iteration, after the
  // loop read the sockets.
  while (!failed_ && replica_.has_ready()) {
    if (!work_.budget_left()) {
      ++work_.apply_deferred;
      return false;
    }
    Ready rd = replica_.ready();
    if (!persist_or_stage(rd)) return true;  // failed: fail_ was the last call
  }
  return finish_durable(durable_seen_);
}

// On the loop: persist and finish at once. Staged: accepts go out now,
// while the writer makes them durable here too, and the Ready finishes when
// the writer says it is durable; a Ready with nothing to write still waits
// for the ones before it.
bool ReplicaDriver::persist_or_stage(Ready& rd) {
  if (persistence_.persist) {
    if (Status s = persistence_.persist(rd); s != Status::ok) {
      failed_ = true;
      fail_(fmt::format("storage {}", to_string(s)));
      return false;
    }
    finish(rd, false, nullptr);
    return !failed_;
  }
  bool sent_early = false;
  if (syncs_here(rd)) {
    // A leader's accepts (to learners, if any) leave before its sync, as
    // they would with the writer.
    if (replica_.role() == Role::leader) {
      for (const Message& m : rd.messages)
        if (may_send_before_persist(m)) send_timed(m);
      sent_early = true;
    }
    bool synced = false;
    if (Status s = persistence_.sync_here(rd, &synced); s != Status::ok) {
      failed_ = true;
      fail_(fmt::format("log {}", to_string(s)));
      return false;
    }
    if (synced) {
      ++work_.synced_on_loop;
      finish(rd, sent_early, nullptr);
      return !failed_;
    }
  }
  if (!sent_early)
    for (const Message& m : rd.messages)
      if (may_send_before_persist(m)) send_timed(m);
  if (rd.snapshot || rd.hard_state || !rd.entries.empty()) {
    std::uint64_t sequence = 0;
    if (Status s = persistence_.submit(rd, &sequence); s != Status::ok) {
      failed_ = true;
      fail_(fmt::format("log {}", to_string(s)));
      return false;
    }
    // A Ready that needs no sync (must_sync false: only the commit index
    // moved) waits for nothing of its own, only for the Readys before it.
    if (rd.must_sync || rd.snapshot) last_sequence_ = sequence;
  }
  Staged s{std::move(rd), last_sequence_, false, {}};
  if (may_apply_early(s.rd)) {
    s.applied = true;
    s.answered.assign(s.rd.outcomes.size(), false);
    apply_and_answer(s.rd, &s.answered);
  }
  staged_.push_back(std::move(s));
  return true;
}

// Whether this Ready is written and synced on the loop rather than by the
// writer thread (when nothing is staged before it). A follower sends nothing
// before its write is durable, so handing the write to the writer buys it
// nothing but two thread wake-ups per batch (to the writer, and back with the
// sync's news). Nor does a leader that is the only voter gain from the
// writer: nobody else's acceptance can commit its batch, so it waits for its
// own sync whatever it does; syncing on the loop makes its group commit
// self-clocked, as Redis's appendfsync always is: what arrives during one
// sync is read in one go and goes in the next, where with the writer the
// loop fed it a sync per handful of commands, each costing as much CPU as
// a large one (docs/benchmarks.md, "The fifteenth round"). A leader with
// other voters keeps the writer: its own sync then overlaps the followers'
// and its loop keeps taking their acknowledgements.
bool ReplicaDriver::syncs_here(const Ready& rd) const {
  if (!persistence_.sync_here || !staged_.empty() || !rd.must_sync || rd.snapshot) return false;
  switch (replica_.role()) {
    case Role::follower:
      return persistence_.followers_sync_here;
    case Role::leader:
      return persistence_.sole_voter_syncs_here && membership_ && only_voter(*membership_);
    default:
      return false;
  }
}

// Applying a chosen value needs no local durability (docs/protocol.md,
// "Durability"): a slot is committed only once a majority holds it durably,
// the leader counting itself only at advance(). So with apply_before_durable
// the committed commands of a Ready apply as it is staged, while the writer
// syncs its entries (a leader's commit often arrives in the Ready of the
// next batch's entries, and would otherwise wait for their fdatasync). In
// order only: every Ready staged before it must have been applied too. A
// restore or a membership change keeps the order of the Ready loop.
bool ReplicaDriver::may_apply_early(const Ready& rd) const {
  if (!hooks_.apply_before_durable || rd.restore || rd.membership || !work_.budget_left())
    return false;
  return staged_.empty() || staged_.back().applied;
}

// Applies rd.committed and answers the committed outcomes (all name slots
// applied by now); the others (not_leader, unknown) wait for finish().
void ReplicaDriver::apply_and_answer(const Ready& rd, std::vector<bool>* answered) {
  apply_committed(rd, answered);
  if (!rd.committed.empty()) applied_ = rd.committed.back().slot;
  maybe_snapshot();
  for (std::size_t k = 0; k < rd.outcomes.size(); ++k)
    if (!(*answered)[k] && rd.outcomes[k].outcome == Outcome::committed) {
      (*answered)[k] = true;
      answer(rd.outcomes[k], {});
    }
  serve_ready_reads();
}

bool ReplicaDriver::finish_durable(std::uint64_t durable) {
  durable_seen_ = std::max(durable_seen_, durable);
  while (!failed_ && !staged_.empty() && staged_.front().sequence <= durable_seen_) {
    if (!work_.budget_left()) {
      ++work_.apply_deferred;
      return false;
    }
    Staged s = std::move(staged_.front());
    staged_.pop_front();
    finish(s.rd, true, s.applied ? &s.answered : nullptr);
  }
  return true;
}

Status ReplicaDriver::compact(Slot slot, std::string data) {
  Status s = replica_.compact(slot, std::move(data));
  if (s == Status::ok) {
    applied_at_snapshot_ = std::max(applied_at_snapshot_, slot);
    bytes_since_snapshot_ = 0;
  }
  snapshot_pending_ = false;  // handed over, or refused: the trigger may ask again
  return s;
}

// Automatic compaction, right after applying: the state machine is at
// applied_ now, so its image is of that slot.
void ReplicaDriver::maybe_snapshot() {
  if ((!hooks_.snapshot && !hooks_.snapshot_begin) || snapshot_pending_ ||
      applied_ <= applied_at_snapshot_)
    return;
  bool by_slots = hooks_.snapshot_every_slots > 0 &&
                  applied_.value >= applied_at_snapshot_.value + hooks_.snapshot_every_slots;
  bool by_bytes =
      hooks_.snapshot_every_bytes > 0 && bytes_since_snapshot_ >= hooks_.snapshot_every_bytes;
  if (!by_slots && !by_bytes) return;
  std::uint64_t t0 = uv_hrtime();
  if (hooks_.snapshot_begin) {
    snapshot_pending_ = true;
    hooks_.snapshot_begin(applied_);
    work_.snapshot_ns += uv_hrtime() - t0;
    return;
  }
  std::string image = hooks_.snapshot();
  work_.snapshot_ns += uv_hrtime() - t0;
  Status s = compact(applied_, std::move(image));
  if (s != Status::ok)
    log_(fmt::format("snapshot at slot {} refused: {}", applied_.value, to_string(s)));
}

void ReplicaDriver::send_timed(const Message& m) {
  std::uint64_t t0 = uv_hrtime();
  send_(m);
  work_.send_ns += uv_hrtime() - t0;
  ++work_.sent;
}

void ReplicaDriver::answer(const ProposalOutcome& o, const std::string& result) {
  std::optional<Done> done = waiting_.take(o.ticket.value);
  if (done) (*done)(o, result);
}

// Committed outcomes come in the order rd.committed applies (slot, then
// position in the batch): each proposer is answered as its command applies,
// with the apply result and no per-command bookkeeping. A configuration is
// the replica's, not a command: it is not applied, and its proposer (a
// membership change) is answered with an empty result.
void ReplicaDriver::apply_committed(const Ready& rd, std::vector<bool>* answered) {
  std::size_t next = 0;
  // The next committed outcome at or after `slot`; earlier ones (slots of
  // an earlier Ready) are answered after applying.
  auto outcome_at = [&](Slot slot, std::uint32_t index) -> const ProposalOutcome* {
    while (next < rd.outcomes.size() &&
           (rd.outcomes[next].outcome != Outcome::committed || rd.outcomes[next].slot < slot))
      ++next;
    if (next < rd.outcomes.size() && rd.outcomes[next].slot == slot &&
        rd.outcomes[next].index == index) {
      (*answered)[next] = true;
      return &rd.outcomes[next++];
    }
    return nullptr;
  };
  for (const Entry& e : rd.committed) {
    if (e.value.kind() != ValueKind::commands) {
      if (const ProposalOutcome* o = outcome_at(e.slot, 0)) answer(*o, {});
      continue;
    }
    if (hooks_.before_apply) hooks_.before_apply(e.value.commands());
    std::uint32_t i = 0;
    // The views point into e.value's block, which rd holds for this loop:
    // hooks get them only for the call (UvHostOptions::apply).
    for (std::string_view c : e.value.commands()) {
      std::string out = hooks_.apply ? hooks_.apply(e.slot, c) : std::string{};
      bytes_since_snapshot_ += c.size();
      ++work_.applied;
      if (const ProposalOutcome* o = outcome_at(e.slot, i)) answer(*o, out);
      ++i;
    }
  }
}

// Steps 2 to 4 of a durable Ready: send (what was not sent early), apply,
// answer proposers, advance.
void ReplicaDriver::finish(const Ready& rd, bool early_sent,
                           const std::vector<bool>* staged_answered) {
  for (const Message& m : rd.messages)
    if (!early_sent || !may_send_before_persist(m)) send_timed(m);
  if (staged_answered) {  // applied when staged
    for (std::size_t k = 0; k < rd.outcomes.size(); ++k)
      if (!(*staged_answered)[k]) answer(rd.outcomes[k], {});
    take_reads(rd);
    replica_.advance(rd);
    return;
  }
  if (rd.restore) {
    if (!hooks_.restore) {
      failed_ = true;
      return fail_("a snapshot arrived but no restore hook is set");
    }
    hooks_.restore(*rd.restore);
    applied_ = rd.restore->meta.slot;
    applied_at_snapshot_ = applied_;
    bytes_since_snapshot_ = 0;
  }
  std::vector<bool> answered(rd.outcomes.size(), false);
  apply_committed(rd, &answered);
  if (!rd.committed.empty()) applied_ = rd.committed.back().slot;
  maybe_snapshot();
  if (rd.membership) report_membership(*rd.membership);
  for (std::size_t k = 0; k < rd.outcomes.size(); ++k)
    if (!answered[k]) answer(rd.outcomes[k], {});
  take_reads(rd);
  replica_.advance(rd);
}

// Confirmed reads wait until their index is applied; failed ones end now.
void ReplicaDriver::take_reads(const Ready& rd) {
  for (const ReadState& r : rd.reads) {
    std::optional<ReadDone> done = reads_.take(r.ticket.value);
    if (!done) continue;
    if (!r.ok)
      (*done)(Status::not_leader, r.leader_hint);
    else
      ready_reads_.add(r.index.value, std::move(*done));
  }
  serve_ready_reads();
}

// Confirmed reads whose index is applied are served now.
void ReplicaDriver::serve_ready_reads() {
  for (ReadDone done; ready_reads_.take_ready(applied_.value, &done);) done(Status::ok, {});
}

}  // namespace synod
