// Built by install_test.py against an installed tree with nothing but
// `pkg-config --cflags --libs synod synod-uv`: three replicas over
// MemoryStorage commit one command through the Ready contract
// (synod/ready.h), and the libuv library's public address parser links.
// Exits 0 only if every replica applied the command. It reads commands as
// the API hands them (std::string_view into the batch's block, synod/value.h)
// and builds a Value with ValueBuilder, as a newcomer's program would.
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "synod/memory_storage.h"
#include "synod/replica.h"
#include "synod/tcp_address.h"

int main() {
  using namespace synod;
  sockaddr_storage addr{};
  std::string why;
  if (!parse_address("127.0.0.1:7000", &addr, &why)) {
    std::fprintf(stderr, "parse_address: %s\n", why.c_str());
    return 1;
  }
  ValueBuilder batch;
  batch.append("one");
  batch.append(std::string_view("two and more").substr(0, 3));
  const Value built = batch.finish();
  if (built.commands().size() != 2 || built.commands()[1] != "two" || built.byte_size() != 6) {
    std::fprintf(stderr, "ValueBuilder: wrong value\n");
    return 1;
  }
  constexpr std::size_t kNodes = 3;
  std::vector<MemoryStorage> storage(kNodes);
  std::vector<std::unique_ptr<Replica>> replicas;
  std::vector<bool> applied(kNodes, false);
  for (std::uint64_t id = 1; id <= kNodes; ++id) {
    Config c;
    c.id = NodeId{id};
    c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
    c.seed = id;
    replicas.push_back(std::make_unique<Replica>(c, storage[id - 1]));
  }
  std::deque<Message> wire;
  bool proposed = false;
  for (int round = 0; round < 10000; ++round) {
    for (std::size_t i = 0; i < kNodes; ++i) {
      Replica& r = *replicas[i];
      if (round % 10 == 0) r.tick();
      while (r.has_ready()) {
        Ready rd = r.ready();
        if (rd.snapshot && storage[i].save_snapshot(*rd.snapshot, rd.keep_from) != Status::ok)
          return 1;
        if (storage[i].save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries) != Status::ok)
          return 1;
        if (rd.must_sync && storage[i].sync() != Status::ok) return 1;
        wire.insert(wire.end(), rd.messages.begin(), rd.messages.end());
        for (const Entry& e : rd.committed)
          if (e.value.kind() == ValueKind::commands)
            for (std::string_view cmd : e.value.commands())
              applied[i] = applied[i] || cmd == "hello";
        r.advance(rd);
      }
    }
    while (!wire.empty()) {
      Message m = wire.front();
      wire.pop_front();
      replicas[m.to.value - 1]->step(m);
    }
    for (auto& r : replicas)
      if (!proposed && r->info().role == Role::leader)
        proposed = r->propose(std::string_view("hello")).ok();
    if (applied[0] && applied[1] && applied[2]) {
      std::printf("three replicas applied the command after %d rounds\n", round);
      return 0;
    }
  }
  std::fprintf(stderr, "not applied everywhere (proposed: %d)\n", proposed ? 1 : 0);
  return 1;
}
