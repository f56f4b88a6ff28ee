// Writes the seed corpus of kv_fuzz (tests/fuzz/corpus/kv): client streams,
// log commands of every kind, snapshots of every format, and the commit
// protocol's entries and messages. Run by hand when a format changes:
//   build/tests/fuzz/synod-make-kv-corpus tests/fuzz/corpus/kv
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "kv_command_codec.h"
#include "kv_store.h"
#include "txn/txn_wire.h"
#include "txn_codec.h"

using namespace synod::kv;

namespace {

std::size_t written = 0;

void write(const std::filesystem::path& dir, const std::string& name, unsigned char mode,
           const std::string& payload) {
  ++written;
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.put(static_cast<char>(mode));
  out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
}

Request req(Command c) {
  auto parsed = parse_request(c);
  if (!std::holds_alternative<Request>(parsed)) std::abort();
  return std::get<Request>(parsed);
}

// Records as kv_fuzz reads them: a length byte, then the bytes.
std::string records(const std::vector<std::string>& commands) {
  std::string out;
  for (const std::string& c : commands) {
    if (c.size() > 255) std::abort();
    out += static_cast<char>(c.size());
    out += c;
  }
  return out;
}

const std::vector<Command> kWrites = {
    {"SET", "a", "1"},
    {"SET", "a", "2", "NX"},
    {"SET", "b", "x", "XX"},
    {"GETSET", "a", "3"},
    {"INCR", "n"},
    {"INCRBY", "n", "-7"},
    {"DECR", "n"},
    {"DECRBY", "n", "2"},
    {"DEL", "a", "zz"},
    {"MSET", "k1", "v1", "k2", "v2"},
    {"MSETNX", "k3", "v3", "k1", "v9"},
};

std::string txn_command() {
  std::vector<WatchedKey> watched{{"a", 1}, {"gone", 0}};
  std::vector<Request> queued{req({"INCRBY", "n", "5"}), req({"SET", "t", "v"}), req({"GET", "t"})};
  return encode(make_txn(watched, queued));
}

std::string addresses_command() {
  return encode(Request{Op::node_addresses, {"1", "127.0.0.1:7101", "127.0.0.1:6401"}});
}

void resp_seeds(const std::filesystem::path& dir) {
  write(dir, "resp-multibulk", 0,
        "\x03*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
  write(dir, "resp-inline-quotes", 0,
        std::string("\x00", 1) + "PING\r\nSET \"a\\x41 b\" 'c\\'d' e\r\n\r\n  \r\nGET a\n");
  write(dir, "resp-empty-and-null", 0,
        "\x06*1\r\n$4\r\nPING\r\n*0\r\n*-1\r\n*2\r\n$3\r\nGET\r\n$-1\r\n");
  write(dir, "resp-too-many-args", 0, "\x04*9\r\n$1\r\na\r\n");
  write(dir, "resp-bulk-too-long", 0, "\x01*2\r\n$3\r\nGET\r\n$100\r\n");
  write(dir, "resp-unbalanced-quote", 0, "\x02SET \"a b\r\n");
  write(dir, "resp-bad-length", 0, "\x05*2\r\n$03\r\nGET\r\n$1\r\na\r\n");
}

void log_seeds(const std::filesystem::path& dir) {
  std::vector<std::string> all;
  for (const Command& c : kWrites) all.push_back(encode(req(c)));
  write(dir, "log-writes", 1, records(all));
  write(dir, "log-txn", 1, records({encode(req({"SET", "a", "1"})), txn_command()}));
  write(dir, "log-addresses", 1, records({addresses_command(), encode(req({"SET", "a", "1"}))}));
  std::string bad = encode(req({"SET", "a", "1"}));
  bad.back() = '\x7f';
  bad.push_back('\x01');  // trailing bytes
  write(dir, "log-malformed", 1, records({bad, std::string("\xff\x01", 2), ""}));
}

void snapshot_seeds(const std::filesystem::path& dir) {
  KvStore executed;  // no log command: the oldest formats
  executed.execute(req({"SET", "a", "1"}));
  write(dir, "snapshot-1", 2, executed.snapshot());
  executed.execute(Request{Op::node_addresses, {"1", "127.0.0.1:7101", "127.0.0.1:6401"}});
  write(dir, "snapshot-2", 2, executed.snapshot());

  KvStore applied;
  for (const Command& c : kWrites) applied.apply(encode(req(c)));
  applied.apply(addresses_command());
  write(dir, "snapshot-3", 2, applied.snapshot());
  applied.set_snapshot_format(4);
  write(dir, "snapshot-4", 2, applied.snapshot());
  write(dir, "snapshot-empty", 2, KvStore().snapshot());
}

void commit_protocol_seeds(const std::filesystem::path& dir) {
  using namespace synod::kv::txn;
  const TxnId id{2, 41};
  ShardPart part;
  part.commands = {req({"SET", "a", "1"}), req({"GET", "b"})};
  part.checks = {{"a", 3}};
  TxnPlan plan{id, {{1, part}, {2, ShardPart{{req({"INCR", "n"})}, {}}}}};
  const ShardList shards{1, 2};
  const std::vector<Reply> results{Reply::ok(), Reply::integer(-4), Reply::bulk("v"),
                                   Reply::array({Reply::null(), Reply::error("ERR x")})};
  std::size_t n = 0;
  for (const Entry& e :
       std::vector<Entry>{PrepareEntry{id, part, shards}, CommitEntry{id}, AbortEntry{id},
                          BeginEntry{plan}, DecideEntry{id, false, AbortReason::watch, shards},
                          ForgetEntry{{{2, 7}, {2, 9}}, 10}, FloorEntry{2, 10}})
    write(dir, "txn-entry-" + std::to_string(n++), 3, encode_entry(e));
  n = 0;
  for (const Message& m : std::vector<Message>{
           PrepareMsg{id, part, shards}, VoteMsg{id, 1, true, AbortReason::none, results},
           DecisionMsg{id, true}, AckMsg{id, 1, true, results}, InquiryMsg{id, 1, shards},
           FloorMsg{2, 10}, FloorAckMsg{1, 10}})
    write(dir, "txn-message-" + std::to_string(n++), 3, encode_message(m));
  write(dir, "txn-list", 3, encode_list({"one", "", "three"}));
  write(dir, "txn-shards", 3, encode_shards(shards));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  resp_seeds(dir);
  log_seeds(dir);
  snapshot_seeds(dir);
  commit_protocol_seeds(dir);
  std::printf("wrote %zu seeds to %s\n", written, dir.c_str());
  return 0;
}
