#include "server_options.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "client_auth.h"
#include "synod/tcp_address.h"

namespace synod::kv {

namespace {

bool parse_u64(const std::string& s, std::uint64_t* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// "1=127.0.0.1:7101,2=127.0.0.1:7102" -> id/address pairs.
bool parse_id_list(const std::string& s, std::map<std::uint64_t, std::string>* out,
                   std::string* why) {
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    std::size_t eq = item.find('=');
    std::uint64_t id = 0;
    if (eq == std::string::npos || !parse_u64(item.substr(0, eq), &id) || id == 0 ||
        eq + 1 >= item.size()) {
      *why = "expected ID=HOST:PORT, got '" + item + "'";
      return false;
    }
    if (!out->emplace(id, item.substr(eq + 1)).second) {
      *why = "node " + std::to_string(id) + " listed twice";
      return false;
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return true;
}

// "normal 256mb 64mb 60" or "256mb 64mb 60": Redis's syntax for the normal
// class (the only class synod-kv has), the class name optional.
bool parse_output_buffer_limit(const std::string& text, ClientLimits* limits) {
  std::istringstream in(text);
  std::vector<std::string> words{std::istream_iterator<std::string>(in), {}};
  if (words.size() == 4 && words[0] == "normal") words.erase(words.begin());
  if (words.size() != 3) return false;
  std::uint64_t hard = 0, soft = 0, seconds = 0;
  if (!parse_memory_size(words[0], &hard) || !parse_memory_size(words[1], &soft) ||
      !parse_u64(words[2], &seconds))
    return false;
  limits->output_hard_bytes = hard;
  limits->output_soft_bytes = soft;
  limits->output_soft_seconds = seconds;
  return true;
}

// TLS needs all three files; without TLS the consensus port may face only
// loopback unless the operator says otherwise (docs/security.md).
bool check_peer_security(const ServerOptions& o, const std::string& listen, std::string* why) {
  const TlsOptions& t = o.tls;
  int given = !t.cert_file.empty() + !t.key_file.empty() + !t.ca_file.empty();
  if (given != 0 && given != 3)
    return (*why = "--tls-cert, --tls-key and --tls-ca go together: give all three"), false;
  if (o.tls_clients && given != 3)
    return (*why = "--tls-clients needs --tls-cert, --tls-key and --tls-ca"), false;
  if (o.tls_auth_clients && !o.tls_clients)
    return (*why = "--tls-auth-clients needs --tls-clients"), false;
  if (given == 3 && o.insecure_peers)
    return (*why = "--insecure-peers and --tls-cert exclude each other"), false;
  if (given == 0 && !o.insecure_peers && !is_loopback_address(listen))
    return (*why = "refusing plaintext peer links on " + listen +
                   ": anyone who reaches that port could forge consensus messages. Give "
                   "--tls-cert, --tls-key and --tls-ca (docs/security.md), or --insecure-peers "
                   "on a network where every host is trusted"),
           false;
  return true;
}

}  // namespace

bool parse_memory_size(const std::string& text, std::uint64_t* bytes) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return false;
  std::string unit;
  for (char c : text.substr(digits)) unit.push_back(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  static const std::pair<const char*, std::uint64_t> kUnits[] = {
      {"", 1},           {"b", 1},
      {"k", 1000},       {"kb", 1024},
      {"m", 1000000},    {"mb", 1024 * 1024},
      {"g", 1000000000}, {"gb", 1024ull * 1024 * 1024}};
  std::uint64_t n = 0;
  if (!parse_u64(text.substr(0, digits), &n)) return false;
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    if (n > UINT64_MAX / scale) return false;
    *bytes = n * scale;
    return true;
  }
  return false;
}

bool read_password_file(const std::string& path, std::string* password, std::string* why) {
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    *why = "--requirepass-file: cannot read " + path + ": " +
           (errno != 0 ? std::strerror(errno) : "open failed");
    return false;
  }
  std::string text{std::istreambuf_iterator<char>(file), {}};
  if (file.bad()) {
    *why = "--requirepass-file: cannot read " + path;
    return false;
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) {
    *why = "--requirepass-file: " + path + " holds no password (the file is empty)";
    return false;
  }
  *password = std::move(text);
  return true;
}

bool is_loopback_address(const std::string& host_port) {
  sockaddr_storage sa{};
  std::string ignored;
  return parse_address(host_port, &sa, &ignored) &&
         is_loopback(reinterpret_cast<const sockaddr*>(&sa));
}

const char* server_usage() {
  return "usage: synod-kv --id N --peers 1=HOST:PORT,2=HOST:PORT,... --listen HOST:PORT\n"
         "                [--data-dir DIR | --memory] [--clients 1=HOST:PORT,...]\n"
         "                [--cluster-id N] [--tick-ms N] [--election-ticks N]\n"
         "                [--bootstrap | --join] [--shards N]\n"
         "                [--snapshot-bytes N] [--snapshot-format 3|4] [--log-format 1|2]\n"
         "                [--compaction-tail N] [--compaction-tail-bytes N]\n"
         "                [--lease-reads]\n"
         "                [--tls-cert FILE --tls-key FILE --tls-ca FILE [--tls-clients]\n"
         "                 [--tls-auth-clients yes|no] | --insecure-peers]\n"
         "                [--requirepass-file FILE] [--protected-mode yes|no]\n"
         "                [--maxclients N] [--timeout SECONDS]\n"
         "                [--client-output-buffer-limit 'HARD SOFT SECONDS']\n"
         "  --peers     the consensus address of every member, this one included\n"
         "  --listen    where Redis clients (RESP2) connect\n"
         "  --data-dir  the durable log (default ./synod-data-ID)\n"
         "  --memory    keep state in memory only; a restarted process rejoins safely\n"
         "  --snapshot-bytes  snapshot the key space after this many command bytes\n"
         "              applied since the last snapshot, and compact the log (default\n"
         "              64 MiB; 0: never)\n"
         "  --snapshot-format  3 (default; FNV-1a, read by the previous release) or 4\n"
         "              (CRC32C); set 4 once every member runs this release\n"
         "  --log-format  1 (default; read by the previous release) or 2 (segments\n"
         "              compaction drops are recycled, not zeroed anew); set 2 once\n"
         "              going back to the previous release is ruled out\n"
         "  --compaction-tail  entries kept below a snapshot (default 10000)\n"
         "  --compaction-tail-bytes  ... and at most this many bytes of them, whichever\n"
         "              keeps less (default 16 MiB; 0: no byte limit)\n"
         "  --shards N  split the 16384 hash slots over N Paxos groups (default 1),\n"
         "              every member a replica of each, leaders spread over the members;\n"
         "              clients follow -MOVED as with Redis Cluster (docs/kv.md)\n"
         "  --lease-reads  GET and friends answered from the leader's lease, without\n"
         "              a heartbeat round (assumes clocks drift by less than 2 ticks\n"
         "              per election timeout; docs/protocol.md); default ReadIndex\n"
         "  --clients   every member's --listen address, so followers answer -MOVED\n"
         "  --bootstrap skip the start-up check that every member is reachable; only\n"
         "              for a brand-new cluster (never after losing a data dir)\n"
         "  --join      join a running cluster as a new member: --peers lists the\n"
         "              current members and this node; it starts as a learner and\n"
         "              waits until CLUSTER ADDNODE ID PEER-ADDR CLIENT-ADDR (a voter)\n"
         "              or CLUSTER ADDLEARNER on the leader adds it; only for a node\n"
         "              that never was a member (docs/kv.md)\n"
         "  --requirepass-file  clients must AUTH with the password this file holds\n"
         "              (one trailing newline stripped); never on the command line\n"
         "  --protected-mode  without a password, serve loopback clients only\n"
         "              (default yes)\n"
         "  --maxclients  connected clients at most (default 10000, lowered to fit\n"
         "              the open files limit)\n"
         "  --timeout   close a client idle this many seconds (default 0: never)\n"
         "  --client-output-buffer-limit  close a client whose unread replies exceed\n"
         "              HARD bytes, or stay above SOFT for SECONDS (default\n"
         "              '256mb 64mb 60'; 0 turns a limit off)\n"
         "  --tls-cert, --tls-key, --tls-ca  peer links over mutual TLS 1.3: this node's\n"
         "              certificate (its subjectAltName URI synod://CLUSTER-ID/node/ID), its\n"
         "              key, and the cluster CA (docs/security.md; scripts/make-certs.sh)\n"
         "  --tls-clients  TLS on the Redis client port too, with the same files\n"
         "              (redis-cli --tls --cacert CA-FILE)\n"
         "  --tls-auth-clients yes|no  clients must present a certificate from the\n"
         "              CA (default no: AUTH is their credential)\n"
         "  --insecure-peers  allow plaintext peer links on a non-loopback address\n"
         "              (anyone who reaches the port can then forge consensus messages)\n"
         "Membership (redis-cli, on the leader): CLUSTER ADDNODE | ADDLEARNER | DELNODE |\n"
         "  TRANSFER | NODES | HELP\n";
}

std::optional<ServerOptions> parse_server_options(int argc, char** argv, std::string* why) {
  static const std::set<std::string> valued_flags = {"--id",
                                                     "--peers",
                                                     "--clients",
                                                     "--listen",
                                                     "--data-dir",
                                                     "--cluster-id",
                                                     "--tick-ms",
                                                     "--election-ticks",
                                                     "--snapshot-bytes",
                                                     "--snapshot-format",
                                                     "--log-format",
                                                     "--compaction-tail",
                                                     "--compaction-tail-bytes",
                                                     "--shards",
                                                     "--requirepass-file",
                                                     "--protected-mode",
                                                     "--maxclients",
                                                     "--timeout",
                                                     "--client-output-buffer-limit",
                                                     "--requirepass",
                                                     "--tls-cert",
                                                     "--tls-key",
                                                     "--tls-ca",
                                                     "--tls-auth-clients"};
  ServerOptions o;
  std::map<std::uint64_t, std::string> peers;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&](std::string* v) {
      if (i + 1 >= argc) return (*why = k + " needs a value"), false;
      *v = argv[++i];
      return true;
    };
    std::string v;
    std::uint64_t n = 0;
    if (k == "--memory")
      o.memory = true;
    else if (k == "--bootstrap")
      o.bootstrap = true;
    else if (k == "--join")
      o.join = true;
    else if (k == "--lease-reads")
      o.lease_reads = true;
    else if (k == "--insecure-peers")
      o.insecure_peers = true;
    else if (k == "--tls-clients")
      o.tls_clients = true;
    else if (k == "--help" || k == "-h")
      return (*why = "usage"), std::nullopt;
    else if (!valued_flags.contains(k))
      return (*why = "unknown flag " + k), std::nullopt;
    else if (!value(&v))
      return std::nullopt;
    else if (k == "--id") {
      if (!parse_u64(v, &n) || n == 0)
        return (*why = "--id must be a positive number"), std::nullopt;
      o.id = NodeId{n};
    } else if (k == "--peers") {
      if (!parse_id_list(v, &peers, why)) return (*why = "--peers: " + *why), std::nullopt;
    } else if (k == "--clients") {
      if (!parse_id_list(v, &o.client_addrs, why))
        return (*why = "--clients: " + *why), std::nullopt;
    } else if (k == "--listen")
      o.listen = v;
    else if (k == "--data-dir")
      o.data_dir = v;
    else if (k == "--cluster-id") {
      if (!parse_u64(v, &o.cluster_id))
        return (*why = "--cluster-id must be a number"), std::nullopt;
    } else if (k == "--tick-ms") {
      if (!parse_u64(v, &o.tick_ms) || o.tick_ms == 0)
        return (*why = "--tick-ms must be a positive number"), std::nullopt;
    } else if (k == "--election-ticks") {
      if (!parse_u64(v, &n) || n < 2 || n > 100000)
        return (*why = "--election-ticks must be in [2, 100000]"), std::nullopt;
      o.election_ticks = static_cast<std::uint32_t>(n);
    } else if (k == "--snapshot-bytes") {
      if (!parse_u64(v, &o.snapshot_bytes))
        return (*why = "--snapshot-bytes must be a number (0: never)"), std::nullopt;
    } else if (k == "--log-format") {
      if (v != "1" && v != "2") return (*why = "--log-format must be 1 or 2"), std::nullopt;
      o.log_format = v == "1" ? 1 : 2;
    } else if (k == "--snapshot-format") {
      if (v != "3" && v != "4") return (*why = "--snapshot-format must be 3 or 4"), std::nullopt;
      o.snapshot_format = v == "3" ? 3 : 4;
    } else if (k == "--shards") {
      if (!parse_u64(v, &n) || n == 0 || n > kMaxShards)
        return (*why = fmt::format("--shards must be in [1, {}]", kMaxShards)), std::nullopt;
      o.shards = static_cast<std::uint32_t>(n);
    } else if (k == "--compaction-tail") {
      if (!parse_u64(v, &o.compaction_tail))
        return (*why = "--compaction-tail must be a number"), std::nullopt;
    } else if (k == "--compaction-tail-bytes") {
      if (!parse_u64(v, &o.compaction_tail_bytes))
        return (*why = "--compaction-tail-bytes must be a number (0: no byte limit)"), std::nullopt;
    } else if (k == "--requirepass") {
      return (*why =
                  "--requirepass is not accepted: a password on the command line is visible to "
                  "every user of the machine; write it to a file and pass --requirepass-file"),
             std::nullopt;
    } else if (k == "--requirepass-file") {
      std::string password;
      if (!read_password_file(v, &password, why)) return std::nullopt;
      o.limits.password = std::move(password);
    } else if (k == "--protected-mode") {
      if (v != "yes" && v != "no")
        return (*why = "--protected-mode must be yes or no"), std::nullopt;
      o.limits.protected_mode = v == "yes";
    } else if (k == "--maxclients") {
      if (!parse_u64(v, &o.limits.max_clients) || o.limits.max_clients == 0)
        return (*why = "--maxclients must be a positive number"), std::nullopt;
    } else if (k == "--timeout") {
      if (!parse_u64(v, &o.limits.idle_timeout_seconds))
        return (*why = "--timeout must be a number of seconds (0: never)"), std::nullopt;
    } else if (k == "--client-output-buffer-limit") {
      if (!parse_output_buffer_limit(v, &o.limits))
        return (*why =
                    "--client-output-buffer-limit must be 'HARD SOFT SECONDS' (sizes such as "
                    "256mb, 0 for no limit), optionally after 'normal'"),
               std::nullopt;
    } else if (k == "--tls-cert")
      o.tls.cert_file = v;
    else if (k == "--tls-key")
      o.tls.key_file = v;
    else if (k == "--tls-ca")
      o.tls.ca_file = v;
    else if (k == "--tls-auth-clients") {
      if (v != "yes" && v != "no")
        return (*why = "--tls-auth-clients must be yes or no"), std::nullopt;
      o.tls_auth_clients = v == "yes";
    } else
      return (*why = "unknown flag " + k), std::nullopt;
  }
  if (!o.id.valid()) return (*why = "--id is required"), std::nullopt;
  if (peers.empty()) return (*why = "--peers is required"), std::nullopt;
  if (!peers.count(o.id.value))
    return (*why = "--peers must include this node's --id"), std::nullopt;
  if (o.listen.empty()) return (*why = "--listen is required"), std::nullopt;
  if (o.join && o.bootstrap)
    return (*why =
                "--join and --bootstrap exclude each other: a joining node never "
                "starts a cluster"),
           std::nullopt;
  if (o.join && peers.size() < 2)
    return (*why = "--join needs --peers to list the current members besides this node"),
           std::nullopt;
  if (o.join && o.shards > 1)
    return (*why =
                "--join needs --shards 1: membership changes are not wired for sharded "
                "clusters (docs/kv.md)"),
           std::nullopt;
  // A cross-shard transaction's id holds its leader's node id in 8 bits, so
  // that ids grow with the ballot (round, node) and a later leader's never
  // fall below an earlier one's (docs/kv.md "Forgetting").
  if (o.shards > 1)
    for (const auto& [id, addr] : peers)
      if (id > kMaxShardedNodeId)
        return (*why = fmt::format("with --shards, node ids must be at most {} (node {} in "
                                   "--peers): transaction ids hold the node id in 8 bits",
                                   kMaxShardedNodeId, id)),
               std::nullopt;
  if (o.memory && !o.data_dir.empty())
    return (*why = "--memory and --data-dir exclude each other"), std::nullopt;
  if (!o.memory && o.data_dir.empty()) o.data_dir = "synod-data-" + std::to_string(o.id.value);
  for (auto& [id, addr] : peers) o.peers.push_back(Peer{NodeId{id}, addr});
  if (!check_peer_security(o, peers.at(o.id.value), why)) return std::nullopt;
  return o;
}

}  // namespace synod::kv
