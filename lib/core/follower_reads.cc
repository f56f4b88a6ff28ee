#include "follower_reads.h"

namespace synod::detail {

void FollowerReads::request(Ticket t) {
  SYNOD_ASSERT(ctx_.leader.valid(), "a follower read with no leader to ask");
  // A leader reads through ReadIndex: asking itself would never be answered.
  SYNOD_ASSERT(ctx_.leader != ctx_.self(), "a follower read sent to itself");
  std::uint64_t id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;  // 0 is not a request id
  bool fresh = waiting_.try_emplace(id, Waiting{t, ctx_.leader, 0}).second;
  SYNOD_ASSERT(fresh, "read request id {} reused while waiting", id);
  Message m;
  m.type = MessageType::read_index_request;
  m.to = ctx_.leader;
  m.slot = Slot{id};
  ctx_.send(std::move(m));
}

void FollowerReads::on_reply(const Message& msg) {
  auto it = waiting_.find(msg.slot.value);
  // Only the leader asked may answer (a duplicate finds nothing).
  if (it == waiting_.end() || it->second.leader != msg.from) return;
  bool ok = !msg.reject;
  SYNOD_ASSERT(it->second.ticket.value != 0, "a follower read without a ticket");
  ctx_.out.reads.push_back(
      ReadState{it->second.ticket, ok ? msg.commit : Slot{}, ok, ok ? NodeId{} : ctx_.leader});
  waiting_.erase(it);
}

void FollowerReads::tick() {
  std::uint64_t limit = 2ull * ctx_.config.election_ticks;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (++it->second.ticks < limit) {
      ++it;
      continue;
    }
    ctx_.out.reads.push_back(ReadState{it->second.ticket, {}, false, ctx_.leader});
    it = waiting_.erase(it);
  }
}

}  // namespace synod::detail
