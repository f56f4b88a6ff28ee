// synod-embed: three replicas, one poll() loop, UNIX datagram sockets, no libuv
// (docs/embedding.md). Fails unless all apply the same 200 commands in order.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>

#include "synod/seed.h"
#include "synod/synod.h"
#include "synod/wire.h"

using namespace synod;
using namespace std::chrono;

// One frame per datagram: keep frames well below the socket buffer.
const wire::WireLimits limits{.frame_bytes_max = 64 << 10};

// A replica, its storage, its state machine (commands applied) and a socket per peer.
struct Node {
  MemoryStorage storage;
  std::unique_ptr<Replica> replica;
  std::map<std::uint64_t, int> socket_to;  // peer id -> socket
  std::vector<std::string> applied;
};

const int total = 200;
int committed = 0, in_flight = 0, proposed = 0;  // the client's counters

// The Ready contract of synod/ready.h. No replica compacts here, so Readys
// never carry a snapshot to save or restore. False when storage fails.
bool finish_readys(Node& n) {
  while (n.replica->has_ready()) {
    Ready rd = n.replica->ready();
    Status s = n.storage.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
    if (s == Status::ok && rd.must_sync) s = n.storage.sync();
    if (s != Status::ok) return false;
    for (const Message& m : rd.messages)
      if (std::vector<std::uint8_t> frame; wire::encode(m, frame, limits) == Status::ok)
        send(n.socket_to[m.to.value], frame.data(), frame.size(), 0);  // a loss is safe
    for (const Entry& e : rd.committed)  // no-ops and configurations apply nothing
      if (e.value.kind() == ValueKind::commands)
        for (std::string_view c : e.value.commands()) n.applied.emplace_back(c);
    in_flight -= int(rd.outcomes.size());  // not_leader, unknown: later commands replace them
    for (const ProposalOutcome& o : rd.outcomes) committed += o.outcome == Outcome::committed;
    n.replica->advance(rd);
  }
  return true;
}

// Steps each frame waiting on `fd`. Its other end is `peer`'s: the socket names the sender.
void receive(Node& n, std::uint64_t peer, int fd) {
  static std::vector<std::uint8_t> buf(wire::max_frame_bytes(limits));
  for (ssize_t len; (len = recv(fd, buf.data(), buf.size(), 0)) > 0;) {
    Message m;
    wire::DecodeResult r = wire::decode_one({buf.data(), std::size_t(len)}, m, limits);
    if (r.status == Status::ok && m.from.value == peer) n.replica->step(m);  // else dropped
  }
}

int main() {
  std::vector<Node> nodes(3);
  for (auto [i, j] : {std::pair{1u, 2u}, std::pair{1u, 3u}, std::pair{2u, 3u}}) {
    int pair[2];  // a connected pair: what one end sends, the other receives
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, pair) != 0) return 1;
    nodes[i - 1].socket_to[j] = pair[0];
    nodes[j - 1].socket_to[i] = pair[1];
  }
  std::vector<pollfd> fds;
  for (std::uint64_t i = 0; i < 3; ++i) {
    for (auto [peer, fd] : nodes[i].socket_to) fds.push_back({fd, POLLIN, 0});
    Config c;
    c.id = NodeId{i + 1};
    c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
    c.message_bytes_max = c.batch_bytes_max = 16 << 10;  // frames stay below 64 KiB
    c.seed = startup_seed(c.id);                         // its own per start (synod/seed.h)
    nodes[i].replica = std::make_unique<Replica>(c, nodes[i].storage);
  }
  auto agree = [&] {
    return nodes[0].applied.size() >= total && nodes[1].applied == nodes[0].applied &&
           nodes[2].applied == nodes[0].applied;
  };
  steady_clock::time_point next_tick = steady_clock::now(), give_up = next_tick + seconds(30);
  while (!agree() && steady_clock::now() < give_up) {
    int wait = int(ceil<milliseconds>(next_tick - steady_clock::now()).count());
    poll(fds.data(), fds.size(), std::max(wait, 0));
    for (; steady_clock::now() >= next_tick; next_tick += milliseconds(10))  // 10 ms ticks
      for (Node& n : nodes) n.replica->tick();
    for (Node& n : nodes) {
      for (auto [peer, fd] : n.socket_to) receive(n, peer, fd);
      while (n.replica->role() == Role::leader && in_flight < 64 && committed + in_flight < total &&
             n.replica->propose("command " + std::to_string(++proposed)).ok())
        ++in_flight;
      if (!finish_readys(n)) return 1;
    }
  }
  std::printf("%d committed; applied %zu, %zu, %zu: %s\n", committed, nodes[0].applied.size(),
              nodes[1].applied.size(), nodes[2].applied.size(), agree() ? "agreed" : "DIFFER");
  return agree() ? 0 : 1;
}
