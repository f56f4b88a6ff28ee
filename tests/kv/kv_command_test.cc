#include "kv_command.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "kv_command_codec.h"

using namespace synod::kv;
using namespace std::string_literals;

namespace {

Request request(Command c) {
  auto r = parse_request(std::move(c));
  REQUIRE(std::holds_alternative<Request>(r));
  return std::get<Request>(std::move(r));
}

std::string error(Command c) {
  auto r = parse_request(std::move(c));
  REQUIRE(std::holds_alternative<Reply>(r));
  const Reply& reply = std::get<Reply>(r);
  CHECK(reply.is_error());
  return reply.str;
}

std::string local(Command c, std::span<const InfoSection> info = {}) {
  return to_resp(answer_local(request(std::move(c)), info));
}

std::vector<Request> sample_requests() {
  std::string big(100000, 'v');
  big[7] = '\0';
  return {
      request({"GET", "k"}),
      request({"GET", ""}),
      request({"SET", std::string("k\0\r\n", 4), ""}),
      request({"SET", "k", big}),
      request({"SET", "k", "v", "NX"}),
      request({"SET", "k", "v", "xx"}),
      request({"DEL", "a", "b", "a"}),
      request({"INCR", "counter"}),
      request({"EXISTS", "a"}),
      request({"DBSIZE"}),
  };
}

}  // namespace

TEST_CASE("command names and options match without regard to case") {
  CHECK(request({"get", "k"}).op == Op::get);
  CHECK(request({"GeT", "k"}).op == Op::get);
  Request r = request({"sEt", "K", "V", "nX"});
  CHECK(r.op == Op::set);
  CHECK(r.args == std::vector<std::string>{"K", "V"});  // keys and values keep their case
  CHECK(r.condition == SetCondition::if_absent);
}

TEST_CASE("each command routes as a write, a read or a local answer") {
  CHECK(route_of(request({"SET", "k", "v"}).op) == Route::write);
  CHECK(route_of(request({"DEL", "k"}).op) == Route::write);
  CHECK(route_of(request({"INCR", "k"}).op) == Route::write);
  CHECK(route_of(request({"GET", "k"}).op) == Route::read);
  CHECK(route_of(request({"EXISTS", "k"}).op) == Route::read);
  CHECK(route_of(request({"DBSIZE"}).op) == Route::read);
  for (Command c : {Command{"PING"}, Command{"ECHO", "x"}, Command{"INFO"}, Command{"COMMAND"},
                    Command{"CONFIG", "GET", "save"}}) {
    CHECK(route_of(request(c).op) == Route::local);
  }
}

TEST_CASE("wrong arity answers with Redis's message") {
  CHECK(error({"GET"}) == "ERR wrong number of arguments for 'get' command");
  CHECK(error({"get", "a", "b"}) == "ERR wrong number of arguments for 'get' command");
  CHECK(error({"SET", "k"}) == "ERR wrong number of arguments for 'set' command");
  CHECK(error({"DEL"}) == "ERR wrong number of arguments for 'del' command");
  CHECK(error({"INCR", "a", "b"}) == "ERR wrong number of arguments for 'incr' command");
  CHECK(error({"EXISTS"}) == "ERR wrong number of arguments for 'exists' command");
  CHECK(error({"DBSIZE", "x"}) == "ERR wrong number of arguments for 'dbsize' command");
  CHECK(error({"PING", "a", "b"}) == "ERR wrong number of arguments for 'ping' command");
  CHECK(error({"ECHO"}) == "ERR wrong number of arguments for 'echo' command");
  CHECK(error({"CONFIG"}) == "ERR wrong number of arguments for 'config' command");
  CHECK(error({"CONFIG", "GET"}) == "ERR wrong number of arguments for 'config|get' command");
  CHECK(error({"COMMAND", "COUNT", "x"}) ==
        "ERR wrong number of arguments for 'command|count' command");
}

TEST_CASE("unknown commands answer with Redis 7's message, truncations included") {
  CHECK(error({"FOO"}) == "ERR unknown command 'FOO', with args beginning with: ");
  CHECK(error({"FoO", "a", "b"}) ==
        "ERR unknown command 'FoO', with args beginning with: 'a' 'b' ");
  CHECK(error({std::string(200, 'X'), std::string(100, 'a'), std::string(100, 'b'), "c"}) ==
        "ERR unknown command '" + std::string(128, 'X') + "', with args beginning with: '" +
            std::string(100, 'a') + "' '" + std::string(25, 'b') + "' ");
  CHECK(error({"nope", std::string(50, 'a'), std::string(50, 'b'), std::string(50, 'c')}) ==
        "ERR unknown command 'nope', with args beginning with: '" + std::string(50, 'a') + "' '" +
            std::string(50, 'b') + "' '" + std::string(22, 'c') + "' ");
  CHECK(error({"LPUSH", "k", "v"}).starts_with("ERR unknown command 'LPUSH'"));
}

TEST_CASE("SET accepts NX and XX and rejects conflicting or unknown options") {
  CHECK(request({"SET", "k", "v"}).condition == SetCondition::always);
  CHECK(request({"SET", "k", "v", "XX"}).condition == SetCondition::if_present);
  CHECK(request({"SET", "k", "v", "NX", "nx"}).condition == SetCondition::if_absent);
  CHECK(error({"SET", "k", "v", "NX", "XX"}) == "ERR syntax error");
  CHECK(error({"SET", "k", "v", "XX", "NX"}) == "ERR syntax error");
  CHECK(error({"SET", "k", "v", "FOO"}) == "ERR syntax error");
  CHECK(error({"SET", "k", "v", "NX", "FOO"}) == "ERR syntax error");
}

TEST_CASE("SET names the Redis options synod-kv does not support") {
  CHECK(error({"SET", "k", "v", "EX", "10"}) == "ERR SET option 'EX' is not supported by synod-kv");
  CHECK(error({"SET", "k", "v", "px", "10"}) == "ERR SET option 'px' is not supported by synod-kv");
  for (const char* opt : {"EXAT", "PXAT", "KEEPTTL", "GET"}) {
    INFO(opt);
    CHECK(error({"SET", "k", "v", opt}).find("is not supported") != std::string::npos);
  }
}

TEST_CASE("PING and ECHO answer like Redis") {
  CHECK(local({"PING"}) == "+PONG\r\n");
  CHECK(local({"ping", "hi"}) == "$2\r\nhi\r\n");
  CHECK(local({"PING", ""}) == "$0\r\n\r\n");
  CHECK(local({"ECHO", "e"}) == "$1\r\ne\r\n");
}

TEST_CASE("INFO returns the requested sections in Redis's layout") {
  std::vector<InfoSection> info{
      {"Server", {{"redis_version", "7.0.0"}, {"synod_node", "1"}}},
      {"Keyspace", {{"db0", "keys=3,expires=0,avg_ttl=0"}}},
  };
  const std::string server = "# Server\r\nredis_version:7.0.0\r\nsynod_node:1\r\n";
  const std::string keyspace = "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n";
  auto bulk = [](const std::string& s) { return to_resp(Reply::bulk(s)); };
  CHECK(local({"INFO"}, info) == bulk(server + "\r\n" + keyspace));
  CHECK(local({"INFO", "all"}, info) == bulk(server + "\r\n" + keyspace));
  CHECK(local({"INFO", "KEYSPACE"}, info) == bulk(keyspace));
  CHECK(local({"INFO", "keyspace", "server"}, info) == bulk(server + "\r\n" + keyspace));
  CHECK(local({"INFO", "nosuch"}, info) == "$0\r\n\r\n");
}

TEST_CASE("COMMAND answers client handshakes harmlessly") {
  // COMMAND alone: the table cluster clients read key positions from.
  std::string table = local({"COMMAND"});
  CHECK(table.starts_with("*"));
  CHECK(table.find("$4\r\nmset\r\n:-3\r\n*1\r\n+write\r\n:1\r\n:-1\r\n:2\r\n") !=
        std::string::npos);
  CHECK(table.find("$3\r\nget\r\n:2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n") !=
        std::string::npos);
  CHECK(table.find("$4\r\nping\r\n:-1\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n") != std::string::npos);
  CHECK(local({"COMMAND", "DOCS"}) == "*0\r\n");
  CHECK(local({"command", "docs", "get"}) == "*0\r\n");
  CHECK(local({"COMMAND", "INFO", "get"}) == "*0\r\n");
  CHECK(local({"COMMAND", "COUNT"}).starts_with(":"));
  CHECK(error({"COMMAND", "nope"}) == "ERR unknown subcommand 'nope'. Try COMMAND HELP.");
}

TEST_CASE("CONFIG GET answers what redis-benchmark asks, as Redis would") {
  CHECK(local({"CONFIG", "GET", "save"}) == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  CHECK(local({"config", "get", "APPENDONLY"}) == "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  CHECK(local({"CONFIG", "GET", "save", "appendonly"}) ==
        "*4\r\n$4\r\nsave\r\n$0\r\n\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  CHECK(local({"CONFIG", "GET", "maxmemory"}) == "*0\r\n");
}

TEST_CASE("CONFIG subcommands other than GET are refused plainly") {
  CHECK(error({"CONFIG", "SET", "save", ""}) ==
        "ERR unsupported CONFIG subcommand 'SET'; synod-kv answers CONFIG GET only");
}

TEST_CASE("an empty command is an error, not a crash") { CHECK(error({}) == "ERR empty command"); }

TEST_CASE("encode and decode round-trip every replicated request") {
  for (const Request& r : sample_requests()) {
    INFO(name_of(r.op));
    std::string bytes = encode(r);
    std::string_view why;
    auto back = decode(bytes, &why);
    INFO(why);
    REQUIRE(back.has_value());
    CHECK(*back == r);
  }
}

TEST_CASE("the encoding is compact: a GET costs four bytes plus its key") {
  CHECK(encode(request({"GET", "key"})) == std::string("\x01\x01\x03key", 6));
  CHECK(encode(request({"SET", "k", "v", "NX"})) == std::string("\x02\x01\x02\x01k\x01v", 7));
}

TEST_CASE("decode rejects every truncation and extension of a valid encoding") {
  for (const Request& r : sample_requests()) {
    std::string bytes = encode(r);
    if (bytes.size() > 1000) continue;  // the quadratic loop needs small inputs
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      INFO(name_of(r.op), " cut to ", n);
      CHECK_FALSE(decode(std::string_view(bytes).substr(0, n)).has_value());
    }
    CHECK_FALSE(decode(bytes + '\0').has_value());
  }
}

TEST_CASE("decode rejects malformed fields with a reason") {
  auto why = [](std::string bytes) {
    std::string_view reason;
    CHECK_FALSE(decode(bytes, &reason).has_value());
    return std::string(reason);
  };
  CHECK(why("") == "empty");
  CHECK(why("\x00\x00"s) == "unknown op tag");
  CHECK(why("\x40\x00"s) == "unknown op tag");       // PING is local: never logged
  CHECK(why("\x11\x00"s) == "unknown op tag");       // 17: the first tag not yet used
  CHECK(why("\x10\x01\x01k"s) == "unknown op tag");  // watch_versions: a read, never logged
  CHECK(why("\x07\x00"s) == "wrong arity");          // node_addresses: triples
  CHECK(why("\x02\x03\x02\x01k\x01v") == "unknown SET condition");
  CHECK(why("\x01\x02\x01k\x01v") == "wrong arity");
  CHECK(why("\x06\x01\x00"s) == "wrong arity");
  std::string overlong(12, '\xff');  // a varint of 11 bytes
  overlong.front() = '\x01';
  overlong.back() = '\x01';
  CHECK(why(overlong) == "bad argument count");
  CHECK(why("\x01\x80") == "bad argument count");
  CHECK(why("\x03\x7f\x00"s) == "argument count past the end");
  CHECK(why("\x01\x01\xff\xff\xff\xff\x0f"
            "abc") == "argument past the end");
  CHECK(why("\x01\x01\x03key!") == "trailing bytes");
}

TEST_CASE("decode survives random bytes, and what it accepts re-encodes to the same request") {
  std::mt19937_64 rng(20240611);
  std::size_t accepted = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string bytes(rng() % 12, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 8 == 0 ? rng() % 7 : rng());
    auto r = decode(bytes);
    if (!r) continue;
    ++accepted;
    CHECK(decode(encode(*r)) == r);
  }
  CHECK(accepted > 0);
}

TEST_CASE("every op that is not local has an encoding") {
  for (const Request& r : sample_requests()) CHECK(route_of(r.op) != Route::local);
}

TEST_CASE("a request parsed from views keeps its arguments where the words are") {
  // The RESP server proposes from these views before the read buffer moves:
  // SET's options and CONFIG's subcommand are dropped by narrowing the span,
  // never by copying.
  std::vector<std::string_view> words = {"set", "key", "value", "NX"};
  auto parsed = parse_request(CommandView(words));
  REQUIRE(std::holds_alternative<RequestRef>(parsed));
  const RequestRef& set = std::get<RequestRef>(parsed);
  CHECK(set.op == Op::set);
  CHECK(set.condition == SetCondition::if_absent);
  REQUIRE(set.args.size() == 2);
  CHECK(set.args.data() == words.data() + 1);
  CHECK(set.own() == request({"set", "key", "value", "NX"}));

  std::vector<std::string_view> config = {"CONFIG", "get", "save", "appendonly"};
  auto cfg = parse_request(CommandView(config));
  REQUIRE(std::holds_alternative<RequestRef>(cfg));
  CHECK(std::get<RequestRef>(cfg).args.data() == config.data() + 2);
  CHECK(std::get<RequestRef>(cfg).args.size() == 2);

  std::vector<std::string_view> bad = {"SET", "k", "v", "EX", "10"};
  auto refused = parse_request(CommandView(bad));
  REQUIRE(std::holds_alternative<Reply>(refused));
  CHECK(std::get<Reply>(refused).str == "ERR SET option 'EX' is not supported by synod-kv");
}

TEST_CASE("the log encoding of a request is the same from views as from its own strings") {
  std::vector<Request> all = sample_requests();
  Request mset{
      Op::mset, {}, SetCondition::always};  // more arguments than RequestViews keeps on its stack
  for (int i = 0; i < 12; ++i) mset.args.push_back("key" + std::to_string(i));
  all.push_back(mset);
  for (const Request& r : all) {
    RequestViews views(r);
    INFO(name_of(r.op), " with ", r.args.size(), " arguments");
    CHECK(views.ref().args.size() == r.args.size());
    CHECK(views.ref().own() == r);
    CHECK(encode(views.ref()) == encode(r));
    auto back = decode(encode(views.ref()));
    REQUIRE(back.has_value());
    CHECK(*back == r);
  }
}
