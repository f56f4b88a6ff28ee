#include "samples.h"

#include <cstdint>
#include <limits>

namespace synod::wire::test {

Value batch(std::vector<std::string> commands) { return Value::of_commands(std::move(commands)); }

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

Message base(MessageType t, std::uint64_t from, std::uint64_t to) {
  Message m;
  m.type = t;
  m.group = GroupId{42};
  m.from = NodeId{from};
  m.to = NodeId{to};
  return m;
}

std::string binary() { return std::string("\0\xff\x01zero\0inside", 13); }

}  // namespace

std::vector<Message> sample_messages() {
  std::vector<Message> out;
  const Ballot b{7, NodeId{1}};

  Message prepare = base(MessageType::prepare, 1, 2);
  prepare.ballot = b;
  prepare.slot = Slot{5};
  prepare.force = true;
  out.push_back(prepare);

  Message promise = base(MessageType::promise, 2, 1);
  promise.ballot = b;
  promise.slot = Slot{5};
  promise.slot_end = Slot{9};
  promise.commit = Slot{4};
  promise.more = true;
  promise.entries = {Entry{Slot{5}, Ballot{3, NodeId{3}}, batch({"set a 1", "", binary()})},
                     Entry{Slot{7}, Ballot{6, NodeId{2}}, Value::noop()},
                     Entry{Slot{8}, Ballot{6, NodeId{2}}, batch({})}};
  out.push_back(promise);

  Message accept = base(MessageType::accept, 1, 3);
  accept.ballot = b;
  accept.commit = Slot{4};
  accept.entries = {Entry{Slot{5}, b, batch({"x"})}, Entry{Slot{6}, b, Value::noop()},
                    Entry{Slot{7}, b, batch({std::string(300, 'y'), ""})}};
  out.push_back(accept);

  Message accepted = base(MessageType::accepted, 3, 1);
  accepted.ballot = b;
  accepted.slot = Slot{5};
  accepted.slot_end = Slot{8};
  out.push_back(accepted);

  Message heartbeat = base(MessageType::heartbeat, 1, 2);
  heartbeat.group = GroupId{kMax};
  heartbeat.ballot = Ballot{kMax, NodeId{kMax}};
  heartbeat.commit = Slot{kMax - 1};
  out.push_back(heartbeat);

  Message ack = base(MessageType::heartbeat_ack, 2, 1);
  ack.ballot = b;
  ack.commit = Slot{3};
  out.push_back(ack);

  Message reject = base(MessageType::reject, 2, 1);
  reject.ballot = Ballot{9, NodeId{3}};
  reject.slot = Slot{5};
  reject.commit = Slot{4};
  out.push_back(reject);

  Message request = base(MessageType::catchup_request, 3, 2);
  request.slot = Slot{5};
  request.commit = Slot{10};
  out.push_back(request);

  Message reply = base(MessageType::catchup_reply, 2, 3);
  reply.slot = Slot{5};
  reply.commit = Slot{7};
  reply.entries = {Entry{Slot{5}, b, batch({"a", "b"})}, Entry{Slot{6}, b, Value::noop()},
                   Entry{Slot{7}, Ballot{8, NodeId{2}}, batch({binary()})}};
  out.push_back(reply);

  Message query = base(MessageType::rejoin_query, 3, 1);
  out.push_back(query);

  Message rejoin = base(MessageType::rejoin_reply, 1, 3);
  rejoin.ballot = b;
  rejoin.commit = Slot{12};
  out.push_back(rejoin);

  Message probe = base(MessageType::probe, 2, 1);
  probe.ballot = Ballot{8, NodeId{2}};
  out.push_back(probe);

  Message probe_reply = base(MessageType::probe_reply, 1, 2);
  probe_reply.ballot = Ballot{8, NodeId{2}};
  probe_reply.reject = true;
  out.push_back(probe_reply);

  Message timeout_now = base(MessageType::timeout_now, 1, 3);
  timeout_now.ballot = Ballot{9, NodeId{1}};
  out.push_back(timeout_now);

  // Snapshot transfer: a catchup_request resuming an image, a chunk from the
  // middle of it, and a last chunk ending exactly at the largest offset.
  Message resume = base(MessageType::catchup_request, 3, 2);
  resume.slot = Slot{5};
  resume.slot_end = Slot{4000};
  resume.offset = 3u << 20;
  resume.commit = Slot{4100};
  out.push_back(resume);

  Message chunk = base(MessageType::snapshot_chunk, 2, 3);
  chunk.slot = Slot{5};
  chunk.slot_end = Slot{4000};
  chunk.commit = Slot{4100};
  chunk.offset = 3u << 20;
  chunk.more = true;
  chunk.payload = binary() + std::string(100, 's') + binary();
  out.push_back(chunk);

  Message last = base(MessageType::snapshot_chunk, 1, 3);
  last.slot = Slot{1};
  last.slot_end = Slot{kMax};
  last.commit = Slot{kMax};
  last.payload = binary();
  last.offset = kMax - last.payload.size();
  out.push_back(last);

  // Follower reads: the request and the leader's answer (and a refusal).
  Message read_request = base(MessageType::read_index_request, 3, 1);
  read_request.slot = Slot{77};
  out.push_back(read_request);
  Message read_reply = base(MessageType::read_index_reply, 1, 3);
  read_reply.slot = Slot{77};
  read_reply.commit = Slot{4100};
  out.push_back(read_reply);
  Message read_refused = base(MessageType::read_index_reply, 2, 3);
  read_refused.slot = Slot{78};
  read_refused.reject = true;
  out.push_back(read_refused);

  return out;
}

}  // namespace synod::wire::test
