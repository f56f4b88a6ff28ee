// libFuzzer target for what synod-kv parses from outside: a client's RESP
// stream, a log command, a snapshot image, and the cross-shard commit
// protocol's entries and messages. Also linked into the corpus replay test,
// so every compiler runs the checks below over the seeds
// (tests/fuzz/corpus/kv, written by synod-make-kv-corpus).
//
// Input: one mode byte, then a payload. Mode % 4 picks the target:
//   0 RESP: the payload's first byte sets a chunk size (1..64); the rest is
//     a client's byte stream, parsed whole and in chunks.
//   1 log commands: the payload is records (one length byte, then that many
//     bytes), applied to two stores, one told of them ahead (prefetch).
//   2 snapshot: the payload is restored into a store holding a few keys.
//   3 commit protocol: the payload is decoded as an entry and a message.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
//   - nothing crashes, leaks or reads out of bounds (ASan, UBSan);
//   - the RESP parser's commands and error do not depend on how the stream
//     is split, and what it holds never exceeds what arrived;
//   - decode and decode_view agree; what decodes re-encodes and decodes back
//     equal (log commands, entries, messages);
//   - applying is deterministic (two stores, equal replies and digests), the
//     incremental digest equals one computed from scratch, and a store's
//     snapshot restores into an equal store that writes the same snapshot;
//   - a refused snapshot leaves the store as it was.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv_command_codec.h"
#include "kv_store.h"
#include "resp_parser.h"
#include "synod/value.h"
#include "txn/txn_wire.h"

namespace {

using namespace synod::kv;

// Traps, naming the line, so a crash file says which property broke.
void check_at(bool ok, int line) {
  if (ok) return;
  std::fprintf(stderr, "kv_fuzz.cc:%d: check failed\n", line);
  __builtin_trap();
}
#define check(ok) check_at((ok), __LINE__)

struct Parsed {
  std::vector<Command> commands;
  bool ok = true;
  std::string error;
  friend bool operator==(const Parsed&, const Parsed&) = default;
};

void fuzz_resp(std::string_view data) {
  if (data.empty()) return;
  const std::size_t chunk = static_cast<unsigned char>(data[0]) % 64 + 1;
  data.remove_prefix(1);
  // Tight limits, so that the limit paths run on small inputs.
  const ParserLimits limits{
      .args_max = 8, .bulk_bytes_max = 64, .inline_bytes_max = 32, .request_bytes_max = 128};
  Parsed whole;
  RequestParser a(limits);
  whole.ok = a.feed(data, &whole.commands);
  whole.error = a.error();
  check(whole.ok == !a.failed());

  Parsed split;
  RequestParser b(limits);
  std::size_t fed = 0;
  for (std::size_t at = 0; at < data.size() && split.ok; at += chunk) {
    std::string_view piece = data.substr(at, chunk);
    fed += piece.size();
    split.ok = b.feed(piece, &split.commands);
    check(b.buffered_bytes() <= fed);
  }
  split.error = b.error();
  check(whole == split);
  for (const Command& c : whole.commands) {
    check(!c.empty() && c.size() <= limits.args_max);
    for (const std::string& arg : c) check(arg.size() <= limits.bulk_bytes_max);
  }
}

// Splits a payload into records: a length byte, then that many bytes (a
// short last record takes what is left).
std::vector<std::string> records(std::string_view data) {
  std::vector<std::string> out;
  while (!data.empty()) {
    const std::size_t n = static_cast<unsigned char>(data[0]);
    data.remove_prefix(1);
    out.emplace_back(data.substr(0, n));
    data.remove_prefix(std::min(n, data.size()));
  }
  return out;
}

void check_codec(const std::string& bytes) {
  const std::optional<Request> request = decode(bytes);
  RequestView view;
  check(request.has_value() == decode_view(bytes, &view));
  if (!request) return;
  check(view.op == request->op && view.condition == request->condition);
  check(std::vector<std::string>(view.args.begin(), view.args.end()) == request->args);
  const std::optional<Request> again = decode(encode(*request));
  check(again.has_value() && *again == *request);
}

void check_snapshot_round_trip(const KvStore& s) {
  const std::string image = s.snapshot();
  KvStore t;
  check(t.restore(image));
  check(t.digest() == s.digest() && t.key_count() == s.key_count());
  check(t.recompute_digest() == t.digest());
  check(t.snapshot() == image);
}

void fuzz_log_commands(std::string_view data) {
  const std::vector<std::string> commands = records(data);
  synod::ValueBuilder batch;
  for (const std::string& c : commands) batch.append(c);
  const synod::Value value = batch.finish();

  // The announced store prefetches and streams overwritten values from its
  // first byte (at 8 MiB otherwise, far past what a fuzz input fills).
  KvStore plain, announced;
  announced.set_prefetch_above_bytes_for_test(0);
  announced.prefetch(value.commands());
  for (const std::string& c : commands) {
    check_codec(c);
    check(plain.apply(c) == announced.apply(c));
  }
  check(plain.digest() == announced.digest() && plain.key_count() == announced.key_count());
  check(announced.snapshot() == plain.snapshot());  // what the streamed stores wrote
  check(plain.digest() == plain.recompute_digest());
  check(plain.log_commands() == commands.size());
  check_snapshot_round_trip(plain);
}

void fuzz_snapshot(std::string_view data) {
  KvStore s;
  for (const char* key : {"a", "b", "counter"}) {
    auto parsed = parse_request(Command{"SET", key, "1"});
    s.apply(encode(std::get<Request>(parsed)));
  }
  const std::string before = s.snapshot();
  const std::uint64_t digest = s.digest();
  if (!s.restore(data)) {
    check(s.digest() == digest && s.snapshot() == before);
    return;
  }
  check(s.digest() == s.recompute_digest());
  check_snapshot_round_trip(s);
}

void fuzz_commit_protocol(std::string_view data) {
  if (const auto entry = txn::decode_entry(data)) {
    const auto again = txn::decode_entry(txn::encode_entry(*entry));
    check(again.has_value() && *again == *entry);
  }
  if (const auto message = txn::decode_message(data)) {
    const auto again = txn::decode_message(txn::encode_message(*message));
    check(again.has_value() && *again == *message);
  }
  if (const auto shards = txn::decode_shards(data)) {
    const auto again = txn::decode_shards(txn::encode_shards(*shards));
    check(again.has_value() && *again == *shards);
  }
  if (const auto list = txn::decode_list(data)) {
    // Equal items, not equal bytes: a varint may come longer than needed.
    std::vector<std::string> items(list->begin(), list->end());
    const std::string bytes = txn::encode_list(items);
    const auto again = txn::decode_list(bytes);
    check(again.has_value() && std::vector<std::string>(again->begin(), again->end()) == items);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  switch (bytes[0] % 4) {
    case 0:
      fuzz_resp(data);
      break;
    case 1:
      fuzz_log_commands(data);
      break;
    case 2:
      fuzz_snapshot(data);
      break;
    default:
      fuzz_commit_protocol(data);
      break;
  }
  return 0;
}
