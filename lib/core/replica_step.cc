// Replica::Core::step: admits a message, then hands it to the role that
// answers it, each of which builds its own reply.
#include "replica_core.h"

namespace synod {

using namespace detail;

// A ballot above the one this replica leads or campaigns with was promised
// or seen: stop proposing.
void Replica::Core::outranked(NodeId hint) {
  if (proposer.role() != Role::follower && ctx.hard.promised > proposer.ballot())
    proposer.step_down(hint);
  SYNOD_ASSERT(proposer.role() == Role::follower || proposer.ballot() == ctx.hard.promised,
               "proposing in {}.{} below the promise", proposer.ballot().round,
               proposer.ballot().node.value);
}

void Replica::Core::hear_leader(NodeId from, Ballot b) {
  // A live leader of a higher ballot: this replica's own ballot is over.
  if (proposer.role() != Role::follower && b > proposer.ballot()) proposer.step_down(from);
  if (proposer.role() != Role::follower) return;
  SYNOD_ASSERT(from != ctx.self(), "hearing itself as another leader");
  proposer.stop_probing();
  ctx.leader = from;
  ctx.ticks_since_leader = 0;
  election_elapsed = 0;
}

void Replica::Core::step(const Message& msg) {
  if (!admit(ctx, msg)) return;
  // Invariant 8 (docs/invariants.md): what got in is addressed to this
  // replica's group, from an id it knows (a learner hears its whole group).
  SYNOD_ASSERT(msg.group == ctx.config.group && msg.to == ctx.self() && msg.from != ctx.self(),
               "admitted a {} not addressed to this replica", to_string(msg.type));
  SYNOD_ASSERT(!ctx.quorum.is_voter(ctx.self()) || ctx.quorum.index_of(msg.from).has_value(),
               "admitted a {} from {}, whom no configuration names", to_string(msg.type),
               msg.from.value);
  // A probed ballot is only a question: it raises nothing.
  bool real_ballot = msg.type != MessageType::probe && msg.type != MessageType::probe_reply;
  if (real_ballot && msg.ballot.round > ctx.max_round_seen) ctx.max_round_seen = msg.ballot.round;
  // Quiescence (quiescence.cc): a sleeping replica wakes on what got in,
  // unless it only confirms the sleep; a quiesce heartbeat may put a
  // follower to sleep once it is handled.
  wake_for(msg);
  bool asleep = sleep_.asleep;
  std::size_t sent_before = ctx.out.messages.size();
  if (!step_ballot(msg)) step_service(msg);
  if (asleep && sleep_.asleep) {
    // Invariant 12 (docs/invariants.md): what a sleeper handles without
    // waking only confirms its sleep or reads its chosen log, so all it may
    // send is an answer: the quiesce heartbeat's acknowledgement again, a
    // probe's refusal, or catch-up.
    for (std::size_t i = sent_before; i < ctx.out.messages.size(); ++i) {
      const Message& out = ctx.out.messages[i];
      MessageType t = out.type;
      bool refusal = t == MessageType::probe_reply && out.reject;
      SYNOD_ASSERT(t == MessageType::heartbeat_ack || refusal || t == MessageType::catchup_reply ||
                       t == MessageType::snapshot_chunk,
                   "a sleeper sent a {} on a {} without waking", to_string(t), to_string(msg.type));
    }
  }
  maybe_sleep_on(msg);
}

// Phases 1 and 2 and the leader's liveness: prepares, accepts and
// heartbeats, and the answers to them. False for any other type.
bool Replica::Core::step_ballot(const Message& msg) {
  bool voting = !rejoin.active();
  // A learner waiting to rejoin still acknowledges heartbeats (so the leader
  // sees it catch up and promotes it); a learner's acknowledgement counts in
  // no quorum.
  bool acks = voting || !ctx.quorum.is_voter(ctx.self());

  switch (msg.type) {
    case MessageType::prepare:
      // An amnesiac replica never answers (docs/invariants.md, invariant 6).
      if (!voting) return true;
      if (acceptor.on_prepare(msg)) {
        outranked(NodeId{});
        if (ctx.leader != ctx.self()) ctx.leader = NodeId{};
      }
      // Every chunk of a granted phase 1 (not only the first) holds off this
      // replica's own election: a long recovery must not be pre-empted. A
      // pre-vote of its own still in flight is dropped too: finishing it
      // would campaign above the ballot just promised and depose that
      // candidate as soon as it leads (its accepts refused with the higher
      // ballot), while the peers that follow it refuse this one's prepares:
      // no leader for as long as they stay sticky.
      if (ctx.hard.promised == msg.ballot) {
        election_elapsed = 0;
        proposer.stop_probing();
      }
      return true;
    case MessageType::accept:
      if (voting && acceptor.on_accept(msg)) hear_leader(msg.from, msg.ballot);
      learner.on_leader_commit(msg.from, msg.ballot, msg.commit);
      proposer.on_caught_up();
      return true;
    case MessageType::heartbeat:
      if (acks && acceptor.on_heartbeat(msg)) {
        hear_leader(msg.from, msg.ballot);
        acceptor.ack_heartbeat(msg);
      }
      learner.on_leader_commit(msg.from, msg.ballot, msg.commit);
      return true;
    case MessageType::promise:
      // Only a voter this replica's campaign asked promises it anything.
      if (!proposer.asked(msg.from)) {
        ++ctx.refused.unasked;
        return true;
      }
      proposer.on_promise(msg);
      learner.on_peer_commit(msg.from, msg.commit);
      return true;
    case MessageType::accepted:
      proposer.on_accepted(msg);
      return true;
    case MessageType::heartbeat_ack:
      if (ctx.config.quiesce && proposer.leading() && msg.ballot == proposer.ballot())
        sleep_.note_ack(msg.from, msg.ballot, msg.commit);
      proposer.on_heartbeat_ack(msg);
      return true;
    case MessageType::reject:
      if (proposer.role() != Role::follower && msg.ballot > proposer.ballot())
        proposer.step_down(msg.ballot.node);
      learner.on_peer_commit(msg.from, msg.commit);
      return true;
    default:
      return false;
  }
}

// Catch-up, snapshots, rejoining, pre-vote, transfer and follower reads.
void Replica::Core::step_service(const Message& msg) {
  bool voting = !rejoin.active();
  switch (msg.type) {
    case MessageType::catchup_request:
      learner.on_catchup_request(msg);
      return;
    case MessageType::catchup_reply:
      if (!proposer.leading()) learner.on_catchup_reply(msg);
      proposer.on_caught_up();
      return;
    case MessageType::snapshot_chunk:
      if (!proposer.leading()) learner.on_snapshot_chunk(msg);
      proposer.on_caught_up();
      return;
    case MessageType::rejoin_query:
      rejoin.answer(msg);
      return;
    case MessageType::probe:
      if (voting) acceptor.on_probe(msg);
      return;
    case MessageType::probe_reply:
      proposer.on_probe_reply(msg);
      learner.on_peer_commit(msg.from, msg.commit);
      return;
    case MessageType::timeout_now:
      // Only from the leader this replica follows, and only when voting.
      if (voting && may_campaign() && msg.from == ctx.leader && msg.ballot >= ctx.hard.promised)
        proposer.campaign(/*force=*/true, /*exclude_self=*/false);
      return;
    case MessageType::read_index_request:
      proposer.on_read_index_request(msg);
      return;
    case MessageType::read_index_reply:
      follower_reads.on_reply(msg);
      return;
    case MessageType::rejoin_reply:
      rejoin.on_reply(msg);
      learner.on_peer_commit(msg.from, msg.commit);
      return;
    default:
      // step_ballot took every other type.
      SYNOD_ASSERT(false, "{} reached no handler", to_string(msg.type));
  }
}

}  // namespace synod
