// synod-kv's command line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "synod/transport.h"
#include "synod/types.h"

namespace synod::kv {

struct ServerOptions {
  NodeId id{};
  std::vector<Peer> peers;                            // every member, this one included
  std::map<std::uint64_t, std::string> client_addrs;  // id -> RESP address, for -MOVED
  std::string listen;                                 // RESP clients
  std::string data_dir;                               // the durable log lives here
  bool memory = false;                                // in-memory storage (state lost on exit)
  bool bootstrap = false;                             // brand-new cluster: vote at once
  // Joins a running cluster: starts as a learner beside the other --peers
  // (the current members) until CLUSTER ADDNODE / ADDLEARNER on the leader
  // makes it a member; the log or a snapshot then tells it the real history.
  bool join = false;
  bool lease_reads = false;  // reads from the leader's lease (bounded drift)
  std::uint64_t cluster_id = 1;
  std::uint64_t tick_ms = 10;
  // 1 s to 2 s without a leader before an election (docs/kv.md says why).
  std::uint32_t election_ticks = 100;
  // Snapshot the key space once this many command bytes were applied since
  // the last snapshot (the log below it is then compacted); 0: never.
  std::uint64_t snapshot_bytes = 64u << 20;
  // Entries kept below a snapshot for cheap catch-up.
  std::uint64_t compaction_tail = 10000;
};

// Parses argv; on a bad or missing flag returns nullopt and sets *why to a
// sentence naming it.
std::optional<ServerOptions> parse_server_options(int argc, char** argv, std::string* why);
const char* server_usage();

}  // namespace synod::kv
