#include "acceptor.h"

#include <algorithm>

namespace synod::detail {

void accept_entry(Context& ctx, const Entry& e) {
  SYNOD_ASSERT(e.ballot >= ctx.hard.promised || ctx.planted(PlantedBug::accept_below_promise),
               "slot {}: accepting {}.{} below the promise {}.{}", e.slot.value, e.ballot.round,
               e.ballot.node.value, ctx.hard.promised.round, ctx.hard.promised.node.value);
  SYNOD_ASSERT(e.slot > ctx.log.commit(), "slot {}: accepting in the chosen prefix", e.slot.value);
  ctx.log.accept(e.slot, e.ballot, e.value);
  // What is persisted (and then reported accepted) is what the window holds.
  const Record* held = ctx.log.find(e.slot);
  SYNOD_ASSERT(held != nullptr && held->ballot == e.ballot,
               "slot {}: accepted {}.{} but the window holds another ballot", e.slot.value,
               e.ballot.round, e.ballot.node.value);
  ctx.persist(e);
}

void Acceptor::reject(const Message& msg) {
  // A reject tells its addressee to step down: only a higher promise may say so.
  SYNOD_ASSERT(ctx_.hard.promised > msg.ballot, "rejecting {}.{} under the promise {}.{}",
               msg.ballot.round, msg.ballot.node.value, ctx_.hard.promised.round,
               ctx_.hard.promised.node.value);
  Message r;
  r.type = MessageType::reject;
  r.to = msg.from;
  r.ballot = ctx_.hard.promised;
  r.slot = msg.slot;
  r.commit = ctx_.log.commit();
  ctx_.send(std::move(r));
}

bool Acceptor::on_prepare(const Message& msg) {
  if (msg.ballot < ctx_.hard.promised) {
    reject(msg);
    return false;
  }
  // Stickiness: while a live leader is heard, prepares from others are
  // ignored (always safe: ignoring is a lost message).
  bool fresh = msg.ballot > ctx_.hard.promised;
  if (fresh && !msg.force && ctx_.heard_leader_recently() && msg.from != ctx_.leader) return false;

  ctx_.promise(msg.ballot);
  SYNOD_ASSERT(ctx_.hard.promised == msg.ballot, "promised what was asked");

  // Report accepted entries from msg.slot on, one bounded chunk at a time; the
  // candidate pulls the next chunk with another prepare.
  Message p;
  p.type = MessageType::promise;
  p.to = msg.from;
  p.ballot = msg.ballot;
  // Compacted below the asked slot: the report starts where the log does,
  // which tells the candidate it lacks chosen values only a snapshot has.
  p.slot = std::max(msg.slot, ctx_.log.first());
  p.commit = ctx_.log.commit();
  Slot next;
  p.entries = ctx_.log.collect(p.slot, ctx_.log.last(), ctx_.config.message_bytes_max / 2, &next);
  p.slot_end = next;
  p.more = next <= ctx_.log.last();
  // Invariant 4 relies on it: a chunk reports every acceptance in
  // [slot, slot_end), and the chunks leave no slot out.
  SYNOD_ASSERT(p.slot_end >= p.slot && (p.entries.empty() || p.entries.back().slot < p.slot_end),
               "promise chunk [{}, {}) misreports its slots", p.slot.value, p.slot_end.value);
  ctx_.send(std::move(p));
  return fresh;
}

bool Acceptor::on_accept(const Message& msg) {
  bool below = msg.ballot < ctx_.hard.promised;
  if (below && !ctx_.planted(PlantedBug::accept_below_promise)) {
    reject(msg);
    return false;
  }
  if (!below) ctx_.promise(msg.ballot);
  SYNOD_ASSERT(below || ctx_.hard.promised == msg.ballot, "accepting {}.{} without promising it",
               msg.ballot.round, msg.ballot.node.value);

  Slot lo = msg.entries.front().slot;
  for (const Entry& e : msg.entries) {
    // Slots in the chosen prefix keep their value (any later ballot proposes
    // the same one, Paxos Made Simple P2c); nothing to persist.
    if (e.slot <= ctx_.log.commit()) continue;
    accept_entry(ctx_, Entry{e.slot, msg.ballot, e.value});
  }
  Message a;
  a.type = MessageType::accepted;
  a.to = msg.from;
  a.ballot = msg.ballot;
  a.slot = lo;
  a.slot_end = msg.entries.back().slot.next();
  ctx_.send(std::move(a));
  return true;
}

void Acceptor::on_probe(const Message& msg) {
  bool sticky = ctx_.heard_leader_recently() && msg.from != ctx_.leader &&
                !ctx_.planted(PlantedBug::probe_past_stickiness);
  Message r;
  r.type = MessageType::probe_reply;
  r.to = msg.from;
  r.ballot = msg.ballot;
  r.commit = ctx_.log.commit();
  r.reject = sticky || msg.ballot <= ctx_.hard.promised;
  ctx_.send(std::move(r));
}

bool Acceptor::on_heartbeat(const Message& msg) {
  if (msg.ballot < ctx_.hard.promised) {
    reject(msg);
    return false;
  }
  return true;
}

void Acceptor::ack_heartbeat(const Message& msg) {
  // An ack confirms the leader's ballot for its reads (invariant 10): never
  // one this acceptor has promised away.
  SYNOD_ASSERT(msg.ballot >= ctx_.hard.promised, "acking {}.{} under the promise {}.{}",
               msg.ballot.round, msg.ballot.node.value, ctx_.hard.promised.round,
               ctx_.hard.promised.node.value);
  Message ack;
  ack.type = MessageType::heartbeat_ack;
  ack.to = msg.from;
  ack.ballot = msg.ballot;
  ack.slot = msg.slot;  // the read round, echoed
  ack.commit = ctx_.log.commit();
  ctx_.send(std::move(ack));
}

}  // namespace synod::detail
