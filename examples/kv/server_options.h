// synod-kv's command line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client_limits.h"
#include "synod/tls_options.h"
#include "synod/transport.h"
#include "synod/types.h"

namespace synod::kv {

// A shard is a Paxos group on every member: past a few hundred, the
// heartbeats and the per-group log records outweigh any spread of load.
inline constexpr std::uint64_t kMaxShards = 1024;
// With --shards, the largest node id: a cross-shard transaction's id holds
// its leader's node id in 8 bits (shard_txns.cc).
inline constexpr std::uint64_t kMaxShardedNodeId = 255;

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
  // The snapshot image written: 3 (FNV-1a; what the previous release reads)
  // or 4 (CRC32C, cheaper to write and check). Both are read. Set 4 once
  // every member runs this release (docs/kv.md, "Snapshots").
  unsigned snapshot_format = 3;
  // The durable log's segment format: 1 (what the previous release reads)
  // or 2, which recycles the segments compaction drops as the next ones
  // instead of zeroing new files and unlinking old ones
  // (LogOptions::recycle_segments). Both are read. Set 2 once going back to
  // the previous release is ruled out (docs/storage.md, "Recycled segments").
  unsigned log_format = 1;
  // Paxos groups the 16384 hash slots are split over (docs/kv.md,
  // "Shards"). 1: one group run by UvHost, today's behaviour and layout.
  std::uint32_t shards = 1;
  // Entries kept below a snapshot for cheap catch-up: at most this many
  // slots and this many bytes of commands (Config::compaction_tail_bytes).
  // 10 000 slots of -P16 batches were ~750 MB in memory on every replica;
  // 16 MiB of entries cost about what a snapshot of 100 000 keys of 256
  // bytes (~28 MB) costs to send, and a lagging replica gets that instead.
  std::uint64_t compaction_tail = 10000;
  std::uint64_t compaction_tail_bytes = 16u << 20;
  // Authentication and the limits on clients (--requirepass-file,
  // --protected-mode, --maxclients, --client-output-buffer-limit, --timeout).
  ClientLimits limits;
  // Peer links over mutual TLS (docs/security.md): --tls-cert, --tls-key and
  // --tls-ca, all three or none.
  TlsOptions tls;
  // Plaintext peer links on a non-loopback address. Without TLS anyone who
  // reaches the consensus port can forge messages, so this must be asked
  // for, as Redis's protected mode asks for exposure of its client port.
  bool insecure_peers = false;
  // TLS on the Redis client port too, with the same certificate and key
  // (redis-cli --tls --cacert CA). Clients present a certificate from the
  // CA only with --tls-auth-clients yes; by default AUTH is their credential.
  bool tls_clients = false;
  bool tls_auth_clients = false;
};

// True for a literal loopback address (127.0.0.0/8, ::1) with its port.
bool is_loopback_address(const std::string& host_port);

// Parses argv; on a bad or missing flag returns nullopt and sets *why to a
// sentence naming it.
std::optional<ServerOptions> parse_server_options(int argc, char** argv, std::string* why);
const char* server_usage();

// A memory size as Redis's configuration reads one: digits, then nothing
// (bytes) or a unit, case-insensitive: k=1000, kb=1024, m=1000^2, mb=1024^2,
// g=1000^3, gb=1024^3. False on anything else or on overflow.
bool parse_memory_size(const std::string& text, std::uint64_t* bytes);

// Reads the password of --requirepass-file: the file's bytes, one trailing
// newline ("\n" or "\r\n") stripped. False, with *why naming the file and
// the cause, if it cannot be read or the password is empty.
bool read_password_file(const std::string& path, std::string* password, std::string* why);

}  // namespace synod::kv
