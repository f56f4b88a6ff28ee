#include "learner.h"

#include <algorithm>

namespace synod::detail {

void Learner::on_leader_commit(NodeId from, Ballot b, Slot commit) {
  Slot s = ctx_.log.commit();
  for (Slot next = s.next(); next <= commit; next = next.next()) {
    const Record* r = ctx_.log.find(next);
    if (!r || r->ballot != b) break;
    s = next;
  }
  // Invariant 5 (docs/invariants.md): only slots accepted in b are chosen by
  // b's word; the rest are fetched.
  SYNOD_ASSERT(s == ctx_.log.commit() || ctx_.log.find(s)->ballot == b,
               "slot {} marked chosen by a ballot it was not accepted in", s.value);
  SYNOD_ASSERT(s == ctx_.log.commit() || s <= commit,
               "slot {} committed past the leader's commit {}", s.value, commit.value);
  if (s > ctx_.log.commit()) ctx_.set_commit(s);
  on_peer_commit(from, commit);
}

void Learner::on_peer_commit(NodeId from, Slot commit) {
  if (commit > known_commit_) known_commit_ = commit;
  // The latest peer to report the highest commit: one that reported it long
  // ago may have died or left since.
  if (commit == known_commit_ && commit > ctx_.log.commit()) best_ = from;
  maybe_request();
}

// Next fetch target after `source_` failed us: the peer that reported the
// highest commit, unless that was the one that failed; then the next voter.
void Learner::switch_source() {
  if (best_.valid() && best_ != source_) {
    source_ = best_;
    return;
  }
  // Any node ever named, not only the members this replica knows: one far
  // behind does not know the members that joined since.
  const std::vector<NodeId>& members = ctx_.quorum.named();
  for (std::size_t i = 0; i < members.size(); ++i) {
    NodeId v = members[rotation_++ % members.size()];
    if (v.valid() && v != ctx_.self() && v != source_) {
      source_ = v;
      return;
    }
  }
}

void Learner::maybe_request() {
  if (requesting_ || holding_ || ctx_.log.commit() >= known_commit_) return;
  if (!source_.valid()) source_ = best_;
  if (!source_.valid()) return;
  SYNOD_ASSERT(source_ != ctx_.self(), "catching up from itself");
  // Only slots a peer reported chosen are asked for.
  SYNOD_ASSERT(ctx_.log.commit() < known_commit_, "fetching past the highest commit {} reported",
               known_commit_.value);
  Message m;
  m.type = MessageType::catchup_request;
  m.to = source_;
  requested_ = ctx_.log.commit().next();
  m.slot = requested_;
  m.commit = known_commit_;
  // A snapshot half received from this source resumes where it stopped.
  if (receiver_.source() == source_) {
    m.slot_end = receiver_.slot();
    m.offset = receiver_.bytes();
  }
  ctx_.send(std::move(m));
  requesting_ = true;
  ticks_waiting_ = 0;
}

void Learner::tick() {
  sender_.tick();
  holding_ = false;
  if (requesting_ && ++ticks_waiting_ >= 2ull * ctx_.config.election_ticks) {
    requesting_ = false;  // no answer: the source may be down
    switch_source();
  }
  maybe_request();
}

// Pitfall: catch-up carries chosen values only, never merely accepted ones.
void Learner::on_catchup_request(const Message& msg) {
  // Slots leave the window only into a snapshot: what is below it can be sent.
  SYNOD_ASSERT(ctx_.log.first() == Slot{1} || !ctx_.snapshot.empty(),
               "window starts at {} with no snapshot below it", ctx_.log.first().value);
  // Compacted below the asked slot: only the snapshot can bring it forward.
  if (msg.slot < ctx_.log.first() && !ctx_.snapshot.empty()) {
    sender_.serve(msg);
    return;
  }
  Message r;
  r.type = MessageType::catchup_reply;
  r.to = msg.from;
  r.slot = msg.slot;
  r.commit = ctx_.log.commit();
  if (msg.slot <= ctx_.log.commit()) {
    Slot next;
    r.entries =
        ctx_.log.collect(msg.slot, ctx_.log.commit(), ctx_.config.message_bytes_max / 2, &next);
  }
  SYNOD_ASSERT(r.entries.empty() || r.entries.back().slot <= ctx_.log.commit(),
               "catch-up would send slot {} above the chosen prefix {}",
               r.entries.back().slot.value, ctx_.log.commit().value);
  // The chosen prefix has no hole (invariant 5), so neither has the reply:
  // the asker stores slots only one after another.
  SYNOD_ASSERT(
      r.entries.empty() ||
          (r.entries.front().slot == std::max(msg.slot, ctx_.log.first()) &&
           r.entries.back().slot.value - r.entries.front().slot.value + 1 == r.entries.size()),
      "catch-up reply from slot {} has a hole", msg.slot.value);
  ctx_.send(std::move(r));
}

void Learner::on_catchup_reply(const Message& msg) {
  // Only the answer to the request outstanding is taken: chosen values come
  // from the peer asked, for the slots asked (docs/protocol.md, "Input the
  // core refuses"), and a duplicated reply cannot multiply requests. Anything
  // else is dropped, as a lost message would be.
  bool answers = requesting_ && msg.from == source_ && msg.slot == requested_;
  if (!answers && !ctx_.planted(PlantedBug::accept_catchup_unasked)) {
    ++ctx_.refused.unasked;
    return;
  }
  Slot s = ctx_.log.commit();
  for (const Entry& e : msg.entries) {
    if (e.slot <= s) continue;
    if (e.slot != s.next() || e.slot > msg.commit) break;
    ctx_.log.store_chosen(e.slot, e.ballot, e.value);
    const Record* r = ctx_.log.find(e.slot);
    SYNOD_ASSERT(r != nullptr && r->value == e.value, "slot {}: a chosen value not stored",
                 e.slot.value);
    ctx_.persist(Entry{e.slot, r->ballot, r->value});
    s = e.slot;
  }
  SYNOD_ASSERT(s == ctx_.log.commit() || s <= msg.commit,
               "catch-up took slot {} above the sender's commit {}", s.value, msg.commit.value);
  bool progress = s > ctx_.log.commit();
  if (progress) ctx_.set_commit(s);
  if (receiver_.active() && ctx_.log.commit() >= receiver_.slot()) receiver_.reset();
  note_sender_commit(msg);
  if (!answers) return;  // only with the planted bug
  if (progress) {
    requesting_ = false;
    maybe_request();
    return;
  }
  // A source no further than this replica cannot help: ask elsewhere, from the
  // next tick on (at most one useless round trip per tick).
  requesting_ = false;
  holding_ = true;
  switch_source();
}

void Learner::on_snapshot_chunk(const Message& msg) {
  bool answers = requesting_ && msg.from == source_ && msg.slot == requested_;
  if (!answers) {
    ++ctx_.refused.unasked;
    return;
  }
  note_sender_commit(msg);
  requesting_ = false;
  if (msg.slot_end <= ctx_.log.commit()) {
    // Entries got here first: the snapshot is no longer needed.
    receiver_.reset();
    maybe_request();
    return;
  }
  switch (receiver_.on_chunk(msg)) {
    case SnapshotReceiver::Step::ignored:
      // Not the bytes asked for (a reordered chunk): ask again next tick.
      holding_ = true;
      return;
    case SnapshotReceiver::Step::advanced:
      maybe_request();
      return;
    case SnapshotReceiver::Step::complete:
      break;
  }
  std::optional<Snapshot> snap = receiver_.take();
  if (!snap || snap->meta.slot != msg.slot_end) {
    // A malformed image: this source cannot help.
    holding_ = true;
    switch_source();
    return;
  }
  SYNOD_ASSERT(snap->meta.slot > ctx_.log.commit(), "installing snapshot {} at or below commit {}",
               snap->meta.slot.value, ctx_.log.commit().value);
  install(*snap);
  maybe_request();
}

// The snapshot replaces the chosen prefix up to its slot; the acceptor's
// records above it stay (this replica keeps voting while it installs).
void Learner::note_sender_commit(const Message& msg) {
  if (msg.commit <= known_commit_) return;
  known_commit_ = msg.commit;
  best_ = msg.from;
}

void Learner::install(const Snapshot& snap) {
  if (snap.meta.slot <= ctx_.log.commit()) return;
  // Invariant 9: applied never moves back (it is at most the commit index,
  // below the snapshot).
  SYNOD_ASSERT(snap.meta.slot > applied_, "snapshot at {} at or below applied {}",
               snap.meta.slot.value, applied_.value);
  ctx_.log.install(snap.meta.slot);
  Membership before = ctx_.quorum.latest();
  ctx_.quorum.reset(snap.meta.membership, snap.meta.slot.next(), snap.meta.pending,
                    snap.meta.pending_from);
  if (!(ctx_.quorum.latest() == before)) ctx_.out.membership = ctx_.quorum.latest();
  ctx_.save_snapshot(snap, snap.meta.slot.next());
  ctx_.out.restore = snap;
  SYNOD_ASSERT(ctx_.log.commit() == snap.meta.slot, "installed {} but commit is {}",
               snap.meta.slot.value, ctx_.log.commit().value);
  ctx_.hard.commit = snap.meta.slot;
  ctx_.out.hard_state_dirty = true;
  ctx_.out.must_sync = true;
  applied_ = snap.meta.slot;
}

void Learner::restore_at_start(const Snapshot& snap) {
  if (snap.empty() || applied_ >= snap.meta.slot) return;
  // The host is handed chosen slots only (invariant 5): recovery committed them.
  SYNOD_ASSERT(snap.meta.slot <= ctx_.log.commit(), "restoring snapshot {} above commit {}",
               snap.meta.slot.value, ctx_.log.commit().value);
  ctx_.out.restore = snap;
  applied_ = snap.meta.slot;
}

void Learner::compact(const Snapshot& snap) {
  Slot slot = snap.meta.slot;
  // Snapshot data carries chosen values only: the host applied them all.
  SYNOD_ASSERT(slot <= applied_ && applied_ <= ctx_.log.commit(),
               "snapshot at {} past applied {} (commit {})", slot.value, applied_.value,
               ctx_.log.commit().value);
  std::uint64_t tail = ctx_.config.compaction_tail;
  Slot keep{slot.value + 1 > tail ? slot.value + 1 - tail : 1};
  if (keep < ctx_.log.first()) keep = ctx_.log.first();
  if (Slot by_bytes = tail_start_by_bytes(slot, keep); by_bytes > keep) {
    keep = by_bytes;
    ++cut_by_bytes_;
  }
  // The kept tail starts at or below the slot after the snapshot: no chosen
  // slot is left in neither.
  SYNOD_ASSERT(keep <= slot.next(), "keeping from {} leaves a gap after snapshot {}", keep.value,
               slot.value);
  ctx_.log.drop_below(keep);
  // The window keeps what the storage is told to keep (keep_from).
  SYNOD_ASSERT(ctx_.log.first() == keep, "window starts at {}, storage keeps from {}",
               ctx_.log.first().value, keep.value);
  ctx_.save_snapshot(snap, keep);
}

// Walks down from the snapshot's slot and stops once the limit is passed:
// about limit / slot size steps for full slots, at most the slot-count
// tail (compaction_tail) when slots are empty or no-ops.
Slot Learner::tail_start_by_bytes(Slot slot, Slot floor) const {
  std::uint64_t limit = ctx_.config.compaction_tail_bytes;
  if (limit == 0) return floor;
  if (ctx_.planted(PlantedBug::tail_cut_past_snapshot)) return slot.next().next();
  std::uint64_t bytes = 0;
  Slot start = slot.next();
  while (start > floor) {
    const Record* r = ctx_.log.find(start.prev());
    bytes += r ? r->value.byte_size() : 0;
    if (bytes > limit) break;
    start = start.prev();
  }
  return start;
}

std::vector<Entry> Learner::take_committed() {
  std::vector<Entry> out;
  for (Slot s = applied_.next(); s <= ctx_.log.commit(); s = s.next()) {
    const Record* r = ctx_.log.find(s);
    SYNOD_ASSERT(r != nullptr, "chosen slot {} has no value", s.value);
    out.push_back(Entry{s, r->ballot, r->value});
  }
  if (!out.empty()) {
    // Invariant 9 (docs/invariants.md): applied moves forward, never past commit.
    SYNOD_ASSERT(out.back().slot > applied_ && out.back().slot <= ctx_.log.commit(),
                 "applied would move from {} to {} (commit {})", applied_.value,
                 out.back().slot.value, ctx_.log.commit().value);
    applied_ = out.back().slot;
  }
  return out;
}

}  // namespace synod::detail
