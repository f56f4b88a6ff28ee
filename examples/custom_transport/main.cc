// synod-udp-example: three replicas in one process, each on its own UDP
// socket through the custom transport above, driven by synod's libuv host.
// Commits 1000 commands and checks every replica applied the same ones.
#include <fmt/format.h>

#include <memory>
#include <vector>

#include "synod/memory_storage.h"
#include "synod/seed.h"
#include "synod/uv_host.h"
#include "udp_transport.h"

int main() {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<synod::Peer> peers;
  for (std::uint64_t i = 1; i <= 3; ++i)
    peers.push_back({synod::NodeId{i}, fmt::format("127.0.0.1:{}", 7320 + i)});

  struct Node {
    synod::MemoryStorage storage;
    std::unique_ptr<example::UdpTransport> transport;
    std::unique_ptr<synod::UvHost> host;
    std::vector<std::string> applied;
  };
  std::vector<std::unique_ptr<Node>> nodes;
  for (const synod::Peer& p : peers) {
    auto n = std::make_unique<Node>();
    n->transport = std::make_unique<example::UdpTransport>(&loop, p.id, p.address, peers);
    synod::UvHostOptions o;
    o.config.id = p.id;
    for (const synod::Peer& q : peers) o.config.voters.push_back(q.id);
    o.config.message_bytes_max = 32 * 1024;  // frames must fit in a datagram
    o.config.batch_bytes_max = 16 * 1024;
    o.config.seed = synod::startup_seed(p.id);
    o.tick_ms = 5;
    Node* raw = n.get();
    o.apply = [raw](synod::Slot, std::string_view c) {
      raw->applied.emplace_back(c);
      return std::string();
    };
    n->host = std::make_unique<synod::UvHost>(&loop, n->storage, *n->transport, o);
    std::string why;
    if (n->host->start(&why) != synod::Status::ok) {
      fmt::print(stderr, "cannot start node {}: {}\n", p.id.value, why);
      return 1;
    }
    nodes.push_back(std::move(n));
  }

  // Offer the leader commands until 1000 are committed (a proposal that ends
  // unknown or not_leader is simply replaced by the next one).
  const int total = 1000;
  int committed = 0, next = 0;
  auto deadline = uv_now(&loop) + 20000;
  while (committed < total && uv_now(&loop) < deadline) {
    uv_run(&loop, UV_RUN_ONCE);
    synod::UvHost* leader = nullptr;
    for (auto& n : nodes)
      if (n->host->info().role == synod::Role::leader) leader = n->host.get();
    for (int k = 0; leader && k < 64 && next - committed < 256; ++k, ++next) {
      auto done = [&](const synod::ProposalOutcome& o, const std::string&) {
        committed += o.outcome == synod::Outcome::committed;
      };
      if (!leader->propose(fmt::format("cmd{}", next), done).ok()) break;
    }
  }
  // Let the followers apply the tail, then compare.
  auto settle = uv_now(&loop) + 2000;
  auto caught_up = [&] {
    for (auto& n : nodes)
      if (n->applied != nodes[0]->applied) return false;
    return true;
  };
  while (!caught_up() && uv_now(&loop) < settle) uv_run(&loop, UV_RUN_ONCE);
  bool ok = committed >= total && caught_up();
  fmt::print("{} commands committed over UDP; replicas applied {} / {} / {} commands: {}\n",
             committed, nodes[0]->applied.size(), nodes[1]->applied.size(),
             nodes[2]->applied.size(), ok ? "identical" : "MISMATCH");
  for (auto& n : nodes) n->host->stop(), n->transport->stop();
  uv_run(&loop, UV_RUN_DEFAULT);
  return ok && uv_loop_close(&loop) == 0 ? 0 : 1;
}
