// INCRBY, DECRBY, DECR, GETSET, MSET, MGET, MSETNX: parse, log round trip
// and apply, with the replies and error texts redis-server 7 gives (checked
// against it by hand; tests/e2e/kv_txn.py compares a running synod-kv).
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "kv_command.h"
#include "kv_command_codec.h"
#include "kv_store.h"
#include "resp_parser.h"
#include "resp_reply.h"

using namespace synod::kv;

namespace {

std::string run(KvStore& store, Command c) {
  auto parsed = parse_request(std::move(c));
  if (auto* error = std::get_if<Reply>(&parsed)) return to_resp(*error);
  const Request& request = std::get<Request>(parsed);
  REQUIRE(route_of(request.op) != Route::local);
  std::string bytes = encode(request);
  REQUIRE(decode(bytes) == request);  // the log form is exact
  return to_resp(store.apply(bytes));
}

}  // namespace

TEST_CASE("INCRBY, DECRBY and DECR: Redis's results, overflow and non-integer errors") {
  KvStore s;
  CHECK(run(s, {"INCRBY", "n", "10"}) == ":10\r\n");
  CHECK(run(s, {"decrby", "n", "3"}) == ":7\r\n");
  CHECK(run(s, {"DECR", "n"}) == ":6\r\n");
  CHECK(run(s, {"DECR", "fresh"}) == ":-1\r\n");
  CHECK(run(s, {"INCRBY", "n", "-16"}) == ":-10\r\n");
  CHECK(*s.find("n") == "-10");
  CHECK(run(s, {"INCRBY", "n", "x"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(run(s, {"INCRBY", "n", " 1"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(run(s, {"SET", "big", "9223372036854775800"}) == "+OK\r\n");
  CHECK(run(s, {"INCRBY", "big", "8"}) == "-ERR increment or decrement would overflow\r\n");
  CHECK(run(s, {"INCRBY", "big", "7"}) == ":9223372036854775807\r\n");
  CHECK(run(s, {"SET", "small", "-9223372036854775807"}) == "+OK\r\n");
  CHECK(run(s, {"DECR", "small"}) == ":-9223372036854775808\r\n");
  CHECK(run(s, {"DECR", "small"}) == "-ERR increment or decrement would overflow\r\n");
  CHECK(run(s, {"DECRBY", "n", "-9223372036854775808"}) == "-ERR decrement would overflow\r\n");
  CHECK(run(s, {"SET", "text", "abc"}) == "+OK\r\n");
  CHECK(run(s, {"DECRBY", "text", "1"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(*s.find("text") == "abc");  // a refused change changes nothing
  CHECK(run(s, {"INCRBY", "n"}) == "-ERR wrong number of arguments for 'incrby' command\r\n");
  CHECK(run(s, {"DECR", "a", "b"}) == "-ERR wrong number of arguments for 'decr' command\r\n");
  CHECK(s.digest() == s.recompute_digest());
}

TEST_CASE("GETSET answers the old value (nil when absent) and sets the new one") {
  KvStore s;
  CHECK(run(s, {"GETSET", "k", "1"}) == "$-1\r\n");
  CHECK(run(s, {"getset", "k", "2"}) == "$1\r\n1\r\n");
  CHECK(*s.find("k") == "2");
  CHECK(run(s, {"GETSET", "k"}) == "-ERR wrong number of arguments for 'getset' command\r\n");
  CHECK(s.digest() == s.recompute_digest());
}

TEST_CASE("MSET, MGET and MSETNX: pairs only, nil for missing keys, MSETNX all or none") {
  KvStore s;
  CHECK(run(s, {"MSET", "a", "1", "b", "2", "a", "3"}) == "+OK\r\n");  // later pair wins
  CHECK(run(s, {"MGET", "a", "missing", "b"}) == "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\n2\r\n");
  CHECK(run(s, {"MSET", "a"}) == "-ERR wrong number of arguments for 'mset' command\r\n");
  CHECK(run(s, {"MSET", "a", "1", "b"}) == "-ERR wrong number of arguments for 'mset' command\r\n");
  CHECK(run(s, {"MGET"}) == "-ERR wrong number of arguments for 'mget' command\r\n");
  CHECK(run(s, {"MSETNX", "a", "9", "c", "9"}) == ":0\r\n");
  CHECK(s.find("c") == nullptr);  // none set when one exists
  CHECK(*s.find("a") == "3");
  CHECK(run(s, {"MSETNX", "c", "1", "d", "2"}) == ":1\r\n");
  CHECK(run(s, {"MGET", "c", "d"}) == "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
  CHECK(run(s, {"msetnx", "e", "1", "f"}) ==
        "-ERR wrong number of arguments for 'msetnx' command\r\n");
  CHECK(run(s, {"DBSIZE"}) == ":4\r\n");
  CHECK(s.digest() == s.recompute_digest());
}

TEST_CASE("the log's new tags keep their numbers and their arity rules") {
  // Logs outlive binaries: these values are fixed.
  CHECK(static_cast<int>(Op::incrby) == 8);
  CHECK(static_cast<int>(Op::decrby) == 9);
  CHECK(static_cast<int>(Op::decr) == 10);
  CHECK(static_cast<int>(Op::getset) == 11);
  CHECK(static_cast<int>(Op::mset) == 12);
  CHECK(static_cast<int>(Op::mget) == 13);
  CHECK(static_cast<int>(Op::msetnx) == 14);
  CHECK(static_cast<int>(Op::txn) == 15);
  // The log form of a tag with these arguments, whatever its arity rule.
  auto raw = [](Op op, std::vector<std::string> args) {
    std::string b(1, static_cast<char>(op));
    put_varint(&b, args.size());
    for (const std::string& a : args) {
      put_varint(&b, a.size());
      b += a;
    }
    return b;
  };
  std::string_view why;
  CHECK_FALSE(decode(raw(Op::mset, {"a", "b", "c"}), &why));
  CHECK(why == "wrong arity");
  CHECK_FALSE(decode(raw(Op::decr, {"a", "b"}), &why));
  CHECK(why == "wrong arity");
  CHECK_FALSE(decode(raw(Op::txn, {}), &why));  // txn without its watch block
  CHECK(why == "wrong arity");
  CHECK(decode(raw(Op::mset, {"a", "b"})).has_value());
  CHECK(decode(raw(Op::txn, {""})).has_value());  // any bytes: checked at apply
  // Every new command is a write or a read, never answered locally.
  CHECK(route_of(Op::incrby) == Route::write);
  CHECK(route_of(Op::msetnx) == Route::write);
  CHECK(route_of(Op::mget) == Route::read);
  CHECK(route_of(Op::watch_versions) == Route::read);
  CHECK(route_of(Op::multi) == Route::session);
}
