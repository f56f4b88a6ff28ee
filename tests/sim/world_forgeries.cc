// Hostile input on the scenario's forgery seeds: messages no correct peer
// sends, delivered straight to a replica as if from a member (the network
// authenticates nothing). The core must refuse them all (docs/protocol.md,
// "Input the core refuses"): a catch-up reply answering no request, with a
// no-op for the target's next slot (taken, it breaks agreement or the
// checker's "applied means chosen"), and prepare, accept, heartbeat and
// probe of round 2^64-1 (taken, they wedge elections for ever).
#include <algorithm>
#include <limits>

#include "world.h"

namespace synod::sim {

void World::forge(std::uint64_t tick) {
  if (tick % 40 != 20) return;
  if (forge_rng_ == 0) forge_rng_ = opt_.seed * 0xd1b54a32d192ed03ULL + 11;
  auto next = [&] {
    forge_rng_ ^= forge_rng_ << 13;
    forge_rng_ ^= forge_rng_ >> 7;
    forge_rng_ ^= forge_rng_ << 17;
    return forge_rng_;
  };
  observe_membership();
  std::vector<NodeId> members = latest_.voters;
  members.insert(members.end(), latest_.learners.begin(), latest_.learners.end());
  if (members.size() < 2) return;
  Node& target = node(members[next() % members.size()]);
  if (!target.replica) return;
  // Another member, as the sender.
  std::size_t t = static_cast<std::size_t>(std::find(members.begin(), members.end(), target.id) -
                                           members.begin());
  NodeId from = members[(t + 1 + next() % (members.size() - 1)) % members.size()];
  Message base;
  base.from = from;
  base.to = target.id;
  std::vector<Message> forged;
  Slot next_slot = target.replica->info().commit.next();
  Message reply = base;
  reply.type = MessageType::catchup_reply;
  reply.slot = Slot{0};  // answers no request: every request asks a slot from 1
  reply.commit = next_slot;
  reply.entries = {Entry{next_slot, Ballot{1, from}, Value::noop()}};
  forged.push_back(reply);
  if (next() % 2 == 0) {
    Ballot huge{std::numeric_limits<std::uint64_t>::max(), from};
    for (MessageType t :
         {MessageType::prepare, MessageType::accept, MessageType::heartbeat, MessageType::probe}) {
      Message m = base;
      m.type = t;
      m.ballot = huge;
      m.slot = t == MessageType::prepare ? Slot{1} : Slot{};
      m.force = true;
      if (t == MessageType::accept) m.entries = {Entry{next_slot, huge, Value::noop()}};
      forged.push_back(m);
    }
  }
  for (const Message& m : forged) {
    trace_message("forged", m);
    target.replica->step(m);
    process_ready(target);
  }
}

}  // namespace synod::sim
