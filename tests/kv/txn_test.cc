// Single-group transactions: key versions, the Op::txn log entry applied
// all at once with its watch check, snapshots that keep versions, and one
// connection's MULTI / EXEC / DISCARD / WATCH / UNWATCH (TxnSession).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kv_command.h"
#include "kv_command_codec.h"
#include "kv_store.h"
#include "resp_parser.h"
#include "resp_reply.h"
#include "synod/crc32c.h"
#include "txn_codec.h"
#include "txn_session.h"

using namespace synod::kv;

namespace {

Request req(Command c) {
  auto parsed = parse_request(std::move(c));
  REQUIRE(std::holds_alternative<Request>(parsed));
  return std::get<Request>(parsed);
}

Reply apply(KvStore& s, Command c) { return s.apply(encode(req(std::move(c)))); }

// What the server does with EXEC's request: the watch block in front.
Reply exec(KvStore& s, std::vector<WatchedKey> watched, std::vector<Command> commands) {
  std::vector<Request> queued;
  for (Command& c : commands) queued.push_back(req(std::move(c)));
  Request t = make_txn(watched, queued);
  return s.apply(encode(t));
}

WatchedKey watch(const KvStore& s, std::string key) {
  std::uint64_t v = s.version_of(key);
  return {std::move(key), v};
}

// One command through a session, as the RESP server runs it: either the
// session's reply, or the node's (applied on `s`, with the watch versions
// read from `s` at once).
std::string through(TxnSession& t, KvStore& s, Command c) {
  auto parsed = parse_request(std::move(c));
  if (auto* e = std::get_if<Reply>(&parsed)) return to_resp(t.on_error(*e));
  TxnSession::Step step = t.on_request(std::get<Request>(parsed));
  if (step.kind == TxnSession::Step::Kind::reply) return to_resp(step.reply);
  Request& r = step.request;
  if (r.op == Op::watch_versions) {
    std::string resp = to_resp(s.execute(r));
    auto versions = parse_versions_reply(resp, r.args.size());
    REQUIRE(versions.has_value());
    resolve_watch(*step.watch, step.watch_from, r.args.size(), versions);
    return "+OK\r\n";
  }
  if (r.op == Op::txn) {
    REQUIRE(t.exec_ready());
    r.args[0] = t.take_watch_block();
  }
  if (route_of(r.op) == Route::read) return to_resp(s.execute(r));
  return to_resp(s.apply(encode(r)));
}

}  // namespace

TEST_CASE("key versions: every write moves them; a deletion moves every absent key's") {
  KvStore s;
  CHECK(s.version_of("k") == 0);
  apply(s, {"SET", "k", "1"});
  const std::uint64_t v1 = s.version_of("k");
  CHECK(v1 == s.log_commands());
  apply(s, {"SET", "other", "1"});
  CHECK(s.version_of("k") == v1);  // another key's write leaves it alone
  apply(s, {"GET", "k"});          // a read through the log changes nothing
  CHECK(s.version_of("k") == v1);
  apply(s, {"SET", "k", "1"});  // the same value still counts as a write
  CHECK(s.version_of("k") > v1);
  const std::uint64_t absent = s.version_of("gone");
  apply(s, {"DEL", "k"});
  CHECK(s.version_of("gone") > absent);  // conservative for absent keys
  const std::uint64_t after_del = s.version_of("k");
  apply(s, {"SET", "k", "2"});
  apply(s, {"DEL", "k"});
  CHECK(s.version_of("k") != after_del);  // deleted and re-created: changed
  apply(s, {"SET", "k", "x"});
  const std::uint64_t v = s.version_of("k");
  apply(s, {"INCR", "k"});  // refused: not an integer, so not a write
  CHECK(s.version_of("k") == v);
  for (Command c : std::vector<Command>{
           {"MSET", "k", "1"}, {"GETSET", "k", "2"}, {"INCRBY", "k", "1"}, {"DECR", "k"}}) {
    std::uint64_t before = s.version_of("k");
    apply(s, c);
    CHECK(s.version_of("k") > before);
  }
}

TEST_CASE("a txn entry applies every command in order and answers each in one array") {
  KvStore s;
  apply(s, {"SET", "a", "5"});
  Reply r = exec(s, {},
                 {{"INCRBY", "a", "10"},
                  {"GET", "a"},
                  {"MSET", "b", "1", "c", "2"},
                  {"MGET", "a", "b", "nope"},
                  {"EXISTS", "a", "c", "d"},
                  {"DBSIZE"},
                  {"INCR", "b"},
                  {"SET", "s", "abc"},
                  {"INCR", "s"},
                  {"GET", "s"}});
  CHECK(to_resp(r) ==
        "*10\r\n:15\r\n$2\r\n15\r\n+OK\r\n*3\r\n$2\r\n15\r\n$1\r\n1\r\n$-1\r\n:2\r\n:3\r\n"
        ":2\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$3\r\nabc\r\n");
  // A runtime error does not undo the others (Redis): all were applied.
  CHECK(*s.find("b") == "2");
  CHECK(*s.find("s") == "abc");
  CHECK(to_resp(exec(s, {}, {})) == "*0\r\n");
  CHECK(s.digest() == s.recompute_digest());
}

TEST_CASE("a watched key's change aborts the txn with nil and nothing applies") {
  KvStore s;
  apply(s, {"SET", "x", "1"});
  WatchedKey wx = watch(s, "x");
  WatchedKey wy = watch(s, "y");  // absent when watched
  // Unchanged: commits.
  CHECK(to_resp(exec(s, {wx, wy}, {{"SET", "z", "1"}})) == "*1\r\n+OK\r\n");
  // x changed since WATCH: nil, and the queued SET is not applied.
  wx = watch(s, "x");
  apply(s, {"INCR", "x"});
  CHECK(to_resp(exec(s, {wx}, {{"SET", "z", "2"}})) == "*-1\r\n");
  CHECK(*s.find("z") == "1");
  // y created since WATCH: nil.
  wy = watch(s, "y");
  apply(s, {"SET", "y", "1"});
  CHECK(to_resp(exec(s, {wy}, {{"SET", "z", "3"}})) == "*-1\r\n");
  // y deleted since WATCH: nil. Deleted and re-created: nil too.
  wy = watch(s, "y");
  apply(s, {"DEL", "y"});
  CHECK(to_resp(exec(s, {wy}, {{"SET", "z", "4"}})) == "*-1\r\n");
  apply(s, {"SET", "y", "1"});
  wy = watch(s, "y");
  apply(s, {"DEL", "y"});
  apply(s, {"SET", "y", "1"});
  CHECK(to_resp(exec(s, {wy}, {{"SET", "z", "5"}})) == "*-1\r\n");
  // A read failed at WATCH: never matches.
  CHECK(to_resp(exec(s, {{"x", kUnknownVersion}}, {{"SET", "z", "6"}})) == "*-1\r\n");
  CHECK(*s.find("z") == "1");
}

TEST_CASE("replicas applying the same txn entries agree, through a snapshot too") {
  KvStore a, b;
  std::vector<std::string> log;
  auto both = [&](const std::string& bytes) {
    log.push_back(bytes);
    CHECK(a.apply(bytes) == b.apply(bytes));
  };
  both(encode(req({"SET", "acct1", "100"})));
  both(encode(req({"SET", "acct2", "100"})));
  WatchedKey w1 = watch(a, "acct1");
  both(encode(make_txn(std::vector{w1}, std::vector{req({"DECRBY", "acct1", "30"}),
                                                    req({"INCRBY", "acct2", "30"})})));
  both(encode(make_txn(std::vector{w1}, std::vector{req({"DECRBY", "acct1", "30"})})));  // stale
  CHECK(*a.find("acct1") == "70");
  CHECK(a.snapshot() == b.snapshot());
  CHECK(a.snapshot().starts_with("SKVSNAP3"));  // the default, until the next release
  KvStore c;
  REQUIRE(c.restore(a.snapshot()));
  CHECK(c.snapshot() == a.snapshot());
  CHECK(c.version_of("acct1") == a.version_of("acct1"));
  CHECK(c.log_commands() == a.log_commands());
  // The restored replica checks watches as the others do.
  WatchedKey w2 = watch(a, "acct2");
  std::string t = encode(make_txn(std::vector{w2}, std::vector{req({"INCR", "acct2"})}));
  CHECK(c.apply(t) == a.apply(t));
  CHECK(c.digest() == a.digest());
}

TEST_CASE("a versioned snapshot rejects every truncation and flipped byte, in both formats") {
  for (unsigned format : {3u, 4u}) {
    CAPTURE(format);
    KvStore a;
    a.set_snapshot_format(format);
    apply(a, {"SET", "k", "v"});
    apply(a, {"DEL", "k"});
    apply(a, {"MSET", "a", "1", "b", "2"});
    const std::string snap = a.snapshot();
    REQUIRE(snap.starts_with(format == 3 ? "SKVSNAP3" : "SKVSNAP4"));
    KvStore b;
    REQUIRE(b.restore(snap));
    CHECK(b.digest() == a.digest());
    KvStore c;
    for (std::size_t n = 0; n < snap.size(); ++n) {
      CHECK_FALSE(c.restore(std::string_view(snap).substr(0, n)));
      std::string flipped = snap;
      flipped[n] = static_cast<char>(flipped[n] ^ 0x01);
      CHECK_FALSE(c.restore(flipped));
    }
    CHECK(c.key_count() == 0);
  }
}

// Written by the release before SKVSNAP4 (FNV-1a) from SET alpha 1, SET
// beta "two\0\r\n", DEL alpha, INCR gamma: log_commands 4, delete_version
// 3, beta at version 2, gamma at 4, no member addresses.
constexpr std::string_view kSkvsnap3Image(
    "SKVSNAP3\x04\x03\x02\x04\x62\x65\x74\x61\x06\x74\x77\x6f\x00\x0d\x0a\x02\x05\x67\x61"
    "\x6d\x6d\x61\x01\x31\x04\x00\xac\xbd\x7c\x80\x04\xf4\x2c\xa6",
    42);

TEST_CASE("an SKVSNAP3 image of an older release still restores, versions and all") {
  KvStore restored;
  REQUIRE(restored.restore(kSkvsnap3Image));
  CHECK(restored.key_count() == 2);
  CHECK(*restored.find("beta") == std::string("two\0\r\n", 6));
  CHECK(*restored.find("gamma") == "1");
  CHECK(restored.find("alpha") == nullptr);
  CHECK(restored.version_of("beta") == 2);
  CHECK(restored.version_of("gamma") == 4);
  CHECK(restored.log_commands() == 4);
  // By default this release writes what the older one wrote, byte for
  // byte, so that a member still on it can install our snapshots.
  CHECK(restored.snapshot() == kSkvsnap3Image);
  // The same commands on a new store give the same state, written as
  // SKVSNAP4 when asked; the restored store writes SKVSNAP4 too, alike.
  KvStore fresh;
  fresh.set_snapshot_format(4);
  apply(fresh, {"SET", "alpha", "1"});
  apply(fresh, {"SET", "beta", std::string("two\0\r\n", 6)});
  apply(fresh, {"DEL", "alpha"});
  apply(fresh, {"INCR", "gamma"});
  const std::string image = fresh.snapshot();
  CHECK(image.starts_with("SKVSNAP4"));
  restored.set_snapshot_format(4);
  CHECK(restored.snapshot() == image);
  CHECK(restored.digest() == fresh.digest());
  // SKVSNAP4 is SKVSNAP3's body under the new magic, then the body's CRC32C.
  CHECK(image.size() == kSkvsnap3Image.size() - 4);
  CHECK(image.substr(8, image.size() - 12) == kSkvsnap3Image.substr(8, kSkvsnap3Image.size() - 16));
  const std::string_view body = std::string_view(image).substr(0, image.size() - 4);
  const std::uint32_t crc = synod::crc32c(body);
  CHECK(image.substr(image.size() - 4) ==
        std::string{static_cast<char>(crc), static_cast<char>(crc >> 8),
                    static_cast<char>(crc >> 16), static_cast<char>(crc >> 24)});
  // Any flipped byte of the old image is refused as well.
  for (std::size_t n = 0; n < kSkvsnap3Image.size(); ++n) {
    std::string flipped(kSkvsnap3Image);
    flipped[n] = static_cast<char>(flipped[n] ^ 0x01);
    KvStore b;
    CHECK_FALSE(b.restore(flipped));
  }
}

TEST_CASE("malformed txn entries change nothing, identically everywhere") {
  KvStore s;
  apply(s, {"SET", "k", "1"});
  const std::string before = s.snapshot();
  const std::string bad_reply = "-ERR malformed log command\r\n";
  Request t = make_txn({}, std::vector{req({"SET", "k", "2"})});
  Request nested = t;
  nested.args.push_back(encode(t));  // a txn inside a txn
  CHECK(to_resp(s.apply(encode(nested))) == bad_reply);
  Request garbage = t;
  garbage.args[1].resize(1);  // a truncated SET: its tag alone
  CHECK(to_resp(s.apply(encode(garbage))) == bad_reply);
  Request bad_watch = t;
  bad_watch.args[0].assign(1, '\x05');  // five keys promised, none there
  CHECK(to_resp(s.apply(encode(bad_watch))) == bad_reply);
  Request internal = t;
  internal.args[1] = encode(Request{Op::node_addresses, {"4", "a:1", "b:2"}, {}});
  CHECK(to_resp(s.apply(encode(internal))) == bad_reply);
  CHECK(*s.find("k") == "1");
  std::vector<WatchedKeyView> views;
  // The views point into the block: it must outlive them.
  const std::string block = encode_watch_block(std::vector<WatchedKey>{{"a", 7}, {"", 0}});
  CHECK(decode_watch_block(block, &views));
  REQUIRE(views.size() == 2);
  CHECK(views[0].key == "a");
  CHECK(views[0].version == 7);
  std::string trailing = encode_watch_block(std::vector<WatchedKey>{{"a", 7}});
  trailing.push_back('x');
  CHECK_FALSE(decode_watch_block(trailing, &views));
}

TEST_CASE("MULTI / EXEC / DISCARD replies as Redis gives them") {
  KvStore s;
  TxnSession t(TxnLimits{});
  CHECK(through(t, s, {"EXEC"}) == "-ERR EXEC without MULTI\r\n");
  CHECK(through(t, s, {"DISCARD"}) == "-ERR DISCARD without MULTI\r\n");
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"MULTI"}) == "-ERR MULTI calls can not be nested\r\n");
  CHECK(through(t, s, {"SET", "x", "1"}) == "+QUEUED\r\n");
  CHECK(through(t, s, {"WATCH", "x"}) == "-ERR WATCH inside MULTI is not allowed\r\n");
  CHECK(through(t, s, {"INCR", "x"}) == "+QUEUED\r\n");
  CHECK(through(t, s, {"GET", "x"}) == "+QUEUED\r\n");
  CHECK(s.find("x") == nullptr);  // queued, not applied
  // Neither the nested MULTI nor the WATCH spoiled the transaction.
  CHECK(through(t, s, {"EXEC"}) == "*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n");
  CHECK_FALSE(t.in_multi());
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"SET", "y", "3"}) == "+QUEUED\r\n");
  CHECK(through(t, s, {"DISCARD"}) == "+OK\r\n");
  CHECK(s.find("y") == nullptr);
  CHECK(through(t, s, {"GET", "x"}) == "$1\r\n2\r\n");  // outside MULTI: as usual
}

TEST_CASE("a queued command's error aborts EXEC with EXECABORT; nothing applies") {
  KvStore s;
  TxnSession t(TxnLimits{});
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"SET", "x"}) == "-ERR wrong number of arguments for 'set' command\r\n");
  CHECK(through(t, s, {"SET", "y", "2"}) == "+QUEUED\r\n");
  CHECK(through(t, s, {"EXEC"}) ==
        "-EXECABORT Transaction discarded because of previous errors.\r\n");
  CHECK(s.find("y") == nullptr);
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"NOSUCH"}).starts_with("-ERR unknown command 'NOSUCH'"));
  CHECK(through(t, s, {"EXEC"}).starts_with("-EXECABORT"));
  // Local commands are refused inside MULTI (synod-kv), which also aborts.
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"PING"}) == "-ERR 'ping' inside MULTI is not supported by synod-kv\r\n");
  CHECK(through(t, s, {"EXEC"}).starts_with("-EXECABORT"));
  CHECK(s.key_count() == 0);
}

TEST_CASE("WATCH: nil when a watched key changed, even by the same connection") {
  KvStore s;
  TxnSession t(TxnLimits{});
  TxnSession other(TxnLimits{});
  CHECK(through(t, s, {"WATCH", "y"}) == "+OK\r\n");
  CHECK(through(other, s, {"SET", "y", "4"}) == "+OK\r\n");
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"SET", "y", "5"}) == "+QUEUED\r\n");
  CHECK(through(t, s, {"EXEC"}) == "*-1\r\n");
  CHECK(*s.find("y") == "4");
  // EXEC unwatched everything: the next one commits.
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"SET", "y", "5"}) == "+QUEUED\r\n");
  CHECK(through(t, s, {"EXEC"}) == "*1\r\n+OK\r\n");
  // The connection's own write after WATCH aborts too (as in Redis).
  CHECK(through(t, s, {"WATCH", "y", "y", "z"}) == "+OK\r\n");
  CHECK(through(t, s, {"WATCH", "y"}) == "+OK\r\n");  // already watched: first version kept
  CHECK(through(t, s, {"SET", "y", "6"}) == "+OK\r\n");
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"EXEC"}) == "*-1\r\n");
  // UNWATCH forgets: no abort.
  CHECK(through(t, s, {"WATCH", "y"}) == "+OK\r\n");
  CHECK(through(t, s, {"SET", "y", "7"}) == "+OK\r\n");
  CHECK(through(t, s, {"UNWATCH"}) == "+OK\r\n");
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"GET", "y"}) == "+QUEUED\r\n");
  CHECK(through(t, s, {"EXEC"}) == "*1\r\n$1\r\n7\r\n");
  // DISCARD unwatches too.
  CHECK(through(t, s, {"WATCH", "y"}) == "+OK\r\n");
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"DISCARD"}) == "+OK\r\n");
  CHECK(through(t, s, {"SET", "y", "8"}) == "+OK\r\n");
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"EXEC"}) == "*0\r\n");
  CHECK(through(t, s, {"WATCH"}) == "-ERR wrong number of arguments for 'watch' command\r\n");
}

TEST_CASE("EXEC waits for its WATCH reads; a failed read aborts it") {
  KvStore s;
  TxnSession t(TxnLimits{});
  TxnSession::Step w = t.on_request(req({"WATCH", "a", "b"}));
  REQUIRE(w.kind == TxnSession::Step::Kind::submit);
  CHECK(w.request.op == Op::watch_versions);
  CHECK(w.request.args == std::vector<std::string>{"a", "b"});
  t.on_request(req({"MULTI"}));
  t.on_request(req({"SET", "a", "1"}));
  TxnSession::Step e = t.on_request(req({"EXEC"}));
  REQUIRE(e.kind == TxnSession::Step::Kind::submit);
  CHECK(e.request.op == Op::txn);
  CHECK_FALSE(t.exec_ready());  // the versions are not back yet
  // The read failed (say, -MOVED): the keys get a version nothing has.
  auto none = parse_versions_reply("-MOVED 0 127.0.0.1:6402\r\n", 2);
  CHECK_FALSE(none.has_value());
  resolve_watch(*w.watch, w.watch_from, 2, none);
  CHECK(t.exec_ready());
  e.request.args[0] = t.take_watch_block();
  CHECK(to_resp(s.apply(encode(e.request))) == "*-1\r\n");
  CHECK(s.find("a") == nullptr);
  CHECK(parse_versions_reply("*2\r\n:3\r\n:0\r\n", 2) == std::vector<std::uint64_t>{3, 0});
  CHECK_FALSE(parse_versions_reply("*2\r\n:3\r\n:0\r\n", 3));
  CHECK_FALSE(parse_versions_reply("*1\r\n:-3\r\n", 1));
  CHECK_FALSE(parse_versions_reply("*1\r\n:3\r\nx", 1));
}

TEST_CASE("a MULTI queue is bounded in commands and bytes; over it, EXECABORT") {
  KvStore s;
  TxnSession t(TxnLimits{3, 1000});
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  for (int i = 0; i < 3; ++i) CHECK(through(t, s, {"INCR", "n"}) == "+QUEUED\r\n");
  TxnSession::Step over = t.on_request(req({"INCR", "n"}));
  CHECK(over.over_limit);
  CHECK(to_resp(over.reply).starts_with("-ERR transaction too large"));
  CHECK(through(t, s, {"EXEC"}).starts_with("-EXECABORT"));
  CHECK(s.find("n") == nullptr);
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  TxnSession::Step big = t.on_request(req({"SET", "k", std::string(2000, 'v')}));
  CHECK(big.over_limit);
  CHECK(through(t, s, {"EXEC"}).starts_with("-EXECABORT"));
  // Watched keys count towards EXEC's entry too.
  CHECK(through(t, s, {"WATCH", std::string(960, 'w')}) == "+OK\r\n");
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"SET", "k", "v"}) == "+QUEUED\r\n");
  TxnSession::Step e = t.on_request(req({"EXEC"}));
  CHECK(e.over_limit);
  CHECK(e.kind == TxnSession::Step::Kind::reply);
  CHECK(s.find("k") == nullptr);
}

TEST_CASE("WATCH is bounded: keys past the entry's bytes are refused, the list kept as it was") {
  KvStore s;
  TxnSession t(TxnLimits{3, 1000});
  // Key after key: the list stops growing at the bound.
  int watched = 0;
  for (int i = 0; i < 1000; ++i) {
    TxnSession::Step w = t.on_request(req({"WATCH", "key-" + std::to_string(i)}));
    if (w.over_limit) {
      CHECK(to_resp(w.reply).starts_with("-ERR too many watched keys"));
      CHECK(w.kind == TxnSession::Step::Kind::reply);
      break;
    }
    ++watched;
  }
  CHECK(watched > 10);
  CHECK(watched < 40);
  // One WATCH of many keys at once is refused whole.
  CHECK(through(t, s, {"UNWATCH"}) == "+OK\r\n");
  TxnSession::Step big = t.on_request(req({"WATCH", "a", std::string(990, 'b')}));
  CHECK(big.over_limit);
  // Nothing of it was kept: a small transaction still runs.
  CHECK(through(t, s, {"MULTI"}) == "+OK\r\n");
  CHECK(through(t, s, {"SET", "k", "v"}) == "+QUEUED\r\n");
  CHECK(through(t, s, {"EXEC"}) == "*1\r\n+OK\r\n");
  CHECK(s.find("k") != nullptr);
}
