#include "learner.h"

namespace synod::detail {

void Learner::on_leader_commit(NodeId from, Ballot b, Slot commit) {
  Slot s = ctx_.log.commit();
  for (Slot next = s.next(); next <= commit; next = next.next()) {
    const Record* r = ctx_.log.find(next);
    if (!r || r->ballot != b) break;
    s = next;
  }
  if (s > ctx_.log.commit()) ctx_.set_commit(s);
  on_peer_commit(from, commit);
}

void Learner::on_peer_commit(NodeId from, Slot commit) {
  if (commit > known_commit_) {
    known_commit_ = commit;
    source_ = from;
  }
  maybe_request();
}

void Learner::maybe_request() {
  if (requesting_ || ctx_.log.commit() >= known_commit_ || !source_.valid()) return;
  Message m;
  m.type = MessageType::catchup_request;
  m.to = source_;
  m.slot = ctx_.log.commit().next();
  m.commit = known_commit_;
  ctx_.send(std::move(m));
  requesting_ = true;
  ticks_waiting_ = 0;
}

void Learner::tick() {
  if (!requesting_) return;
  if (++ticks_waiting_ < 2ull * ctx_.config.election_ticks) return;
  // No answer: the source may be down. Try the leader, else the next voter.
  requesting_ = false;
  const auto& voters = ctx_.quorum.voters();
  if (ctx_.leader.valid() && ctx_.leader != ctx_.self() && ctx_.leader != source_) {
    source_ = ctx_.leader;
  } else {
    for (std::size_t i = 0; i < voters.size(); ++i) {
      NodeId v = voters[rotation_++ % voters.size()];
      if (v != ctx_.self() && v != source_) {
        source_ = v;
        break;
      }
    }
  }
  maybe_request();
}

// Pitfall: catch-up carries chosen values only, never merely accepted ones.
void Learner::on_catchup_request(const Message& msg) {
  Message r;
  r.type = MessageType::catchup_reply;
  r.to = msg.from;
  r.slot = msg.slot;
  r.commit = ctx_.log.commit();
  if (msg.slot <= ctx_.log.commit()) {
    Slot next;
    r.entries = ctx_.log.collect(msg.slot, ctx_.log.commit(), ctx_.config.message_bytes_max / 2, &next);
  }
  ctx_.send(std::move(r));
}

void Learner::on_catchup_reply(const Message& msg) {
  if (msg.from == source_) requesting_ = false;
  Slot s = ctx_.log.commit();
  for (const Entry& e : msg.entries) {
    if (e.slot <= s) continue;
    if (e.slot != s.next() || e.slot > msg.commit) break;
    ctx_.log.store_chosen(e.slot, e.ballot, e.value);
    const Record* r = ctx_.log.find(e.slot);
    ctx_.persist(Entry{e.slot, r->ballot, r->value});
    s = e.slot;
  }
  if (s > ctx_.log.commit()) ctx_.set_commit(s);
  on_peer_commit(msg.from, msg.commit);
}

std::vector<Entry> Learner::take_committed() {
  std::vector<Entry> out;
  for (Slot s = applied_.next(); s <= ctx_.log.commit(); s = s.next()) {
    const Record* r = ctx_.log.find(s);
    SYNOD_ASSERT(r != nullptr, "chosen slot {} has no value", s.value);
    out.push_back(Entry{s, r->ballot, r->value});
  }
  if (!out.empty()) applied_ = out.back().slot;
  return out;
}

}  // namespace synod::detail
