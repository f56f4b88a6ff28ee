#include "resp_parser.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "alloc_probe.h"

using namespace synod::kv;

namespace {

struct Parsed {
  std::vector<Command> commands;
  std::string error;  // empty when the stream was well formed
  bool operator==(const Parsed&) const = default;
};

// Feeds `chunks` in order, as successive socket reads would arrive.
Parsed parse_chunks(const std::vector<std::string>& chunks, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Parsed p;
  for (const auto& c : chunks) {
    if (!parser.feed(c, &p.commands)) break;
  }
  p.error = parser.error();
  return p;
}

Parsed parse(std::string_view bytes, ParserLimits limits = {}) {
  return parse_chunks({std::string(bytes)}, limits);
}

std::string error_of(std::string_view bytes, ParserLimits limits = {}) {
  return parse(bytes, limits).error;
}

// Every way to cut `bytes` into three pieces (two cuts, possibly empty
// pieces) must give what the whole buffer gives.
void check_every_split(std::string_view bytes, ParserLimits limits = {}) {
  Parsed whole = parse(bytes, limits);
  for (std::size_t i = 0; i <= bytes.size(); ++i) {
    for (std::size_t j = i; j <= bytes.size(); ++j) {
      Parsed split =
          parse_chunks({std::string(bytes.substr(0, i)), std::string(bytes.substr(i, j - i)),
                        std::string(bytes.substr(j))},
                       limits);
      INFO("cuts at ", i, " and ", j);
      REQUIRE(split == whole);
    }
  }
  std::vector<std::string> bytewise;
  for (char c : bytes) bytewise.emplace_back(1, c);
  CHECK(parse_chunks(bytewise, limits) == whole);
}

const std::string kMixedStream =
    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"
    "PING\r\n"
    "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
    "set \"a b\" 'c\\'d' \"\\x41\\n\"\n"
    "*0\r\n"
    "\r\n"
    "*1\r\n$4\r\nINCR\r\n";

}  // namespace

TEST_CASE("a multibulk request parses into its arguments") {
  Parsed p = parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n");
  CHECK(p.error.empty());
  REQUIRE(p.commands.size() == 1);
  CHECK(p.commands[0] == Command{"SET", "k", "hello"});
}

TEST_CASE("bulk strings are binary safe: CR, LF and NUL bytes survive") {
  std::string value("a\r\nb\0c", 6);
  Parsed p = parse(std::string("*2\r\n$4\r\nECHO\r\n$6\r\n") + value + "\r\n");
  REQUIRE(p.commands.size() == 1);
  CHECK(p.commands[0][1] == value);
}

TEST_CASE("pipelined requests in one buffer come out in order") {
  std::string stream;
  for (int i = 0; i < 100; ++i) {
    std::string key = "key:" + std::to_string(i);
    stream += "*2\r\n$3\r\nGET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
  }
  Parsed p = parse(stream);
  CHECK(p.error.empty());
  REQUIRE(p.commands.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(p.commands[i] == Command{"GET", "key:" + std::to_string(i)});
}

TEST_CASE("a stream split at every pair of byte boundaries yields the same commands") {
  Parsed whole = parse(kMixedStream);
  CHECK(whole.error.empty());
  CHECK(whole.commands == std::vector<Command>{{"SET", "key", "va\r\nl"},
                                               {"PING"},
                                               {"GET", ""},
                                               {"set", "a b", "c'd", "A\n"},
                                               {"INCR"}});
  check_every_split(kMixedStream);
}

TEST_CASE("a malformed stream fails the same way however it is split") {
  check_every_split("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$2\r\nabc\r\n");
  check_every_split("PING\r\n*1\r\n+PING\r\n");
  check_every_split("PING\r\nget \"k\r\n");
  ParserLimits small;
  small.inline_bytes_max = 8;
  check_every_split("PING\r\nGET abcdefgh\r\n", small);
}

TEST_CASE("inline commands split on blanks and end with CRLF or a bare LF") {
  Parsed p = parse("PING\r\nGET  k\t\n   SET k v  \r\n");
  CHECK(p.error.empty());
  CHECK(p.commands == std::vector<Command>{{"PING"}, {"GET", "k"}, {"SET", "k", "v"}});
}

TEST_CASE("inline quoting follows Redis: escapes in double quotes, \\' in single quotes") {
  Command args;
  REQUIRE(split_inline_args(R"(set "a\"b\n\r\t\\\x41\x4a" 'it\'s' x"y z")", &args));
  CHECK(args == Command{"set", "a\"b\n\r\t\\AJ", "it's", "xy z"});
  // A quote may open mid-token, but a closing quote needs a blank after it.
  args.clear();
  CHECK_FALSE(split_inline_args(R"(set x"y z"w)", &args));
  args.clear();
  REQUIRE(split_inline_args(R"(a"" '' "\xZZ")", &args));
  CHECK(args == Command{"a", "", "xZZ"});
}

TEST_CASE("empty requests are skipped: *0, *-1 and blank lines") {
  Parsed p = parse("*0\r\n*-1\r\n\r\n   \r\n\n*1\r\n$4\r\nPING\r\n");
  CHECK(p.error.empty());
  CHECK(p.commands == std::vector<Command>{{"PING"}});
}

TEST_CASE("unbalanced quotes in an inline command are a protocol error") {
  CHECK(error_of("get \"k\r\n") == "ERR Protocol error: unbalanced quotes in request");
  CHECK(error_of("get 'k\r\n") == "ERR Protocol error: unbalanced quotes in request");
  CHECK(error_of("set k \"a\"b\r\n") == "ERR Protocol error: unbalanced quotes in request");
}

TEST_CASE("a bad argument count is a protocol error") {
  for (const char* bad : {"*x\r\n", "*\r\n", "*1x\r\n", "*+1\r\n", "*01\r\n", "*-0\r\n", "* 1\r\n",
                          "*1 \r\n", "*99999999999999999999\r\n"}) {
    INFO(bad);
    CHECK(error_of(bad) == "ERR Protocol error: invalid multibulk length");
  }
}

TEST_CASE("a count below -1 is a protocol error") {
  CHECK(error_of("*-2\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(error_of("*-5\r\n") == "ERR Protocol error: invalid multibulk length");
}

TEST_CASE("a count or length line without its CR is a protocol error") {
  CHECK(error_of("*1\n$4\r\nPING\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(error_of("*1\r\n$4\nPING\r\n") == "ERR Protocol error: invalid bulk length");
}

TEST_CASE("a negative, malformed or oversize bulk length is a protocol error") {
  for (const char* bad : {"*1\r\n$-1\r\n", "*1\r\n$x\r\n", "*1\r\n$04\r\n", "*1\r\n$\r\n"}) {
    INFO(bad);
    CHECK(error_of(bad) == "ERR Protocol error: invalid bulk length");
  }
  CHECK(error_of("*1\r\n$600000000\r\n") ==
        "ERR Protocol error: invalid bulk length 600000000: above the limit of 536870912 bytes on "
        "one argument");
  ParserLimits limits;
  limits.bulk_bytes_max = 4;
  CHECK(error_of("*1\r\n$4\r\nPING\r\n", limits).empty());
  CHECK(error_of("*1\r\n$5\r\nPINGS\r\n", limits) ==
        "ERR Protocol error: invalid bulk length 5: above the limit of 4 bytes on one argument");
}

TEST_CASE("a bulk above the limit is refused on its length line, before any of it is buffered") {
  // The server's limits: the largest command the log accepts (1 MiB).
  ParserLimits limits;
  limits.bulk_bytes_max = 1u << 20;
  limits.request_bytes_max = 1u << 20;
  RequestParser parser(limits);
  std::vector<Command> out;
  const std::string rest(100000, 'x');
  synod::kv::test::AllocProbe probe;
  CHECK_FALSE(parser.feed("*1\r\n$536870912\r\n", &out));
  CHECK(parser.failed());
  CHECK(parser.error().find("536870912") != std::string::npos);
  CHECK(parser.error().find("1048576") != std::string::npos);
  CHECK(parser.buffered_bytes() == 0);
  // Whatever follows is not read, let alone kept.
  CHECK_FALSE(parser.feed(rest, &out));
  CHECK(parser.buffered_bytes() == 0);
  CHECK(probe.largest_bytes() < 64 * 1024);
  CHECK(out.empty());
  // Exactly at the limit is still a command.
  RequestParser at_limit(limits);
  std::string bulk(limits.bulk_bytes_max, 'v');
  std::string request = "*1\r\n$";
  request += std::to_string(bulk.size());
  request += "\r\n";
  request += bulk;
  request += "\r\n";
  CHECK(at_limit.feed(request, &out));
  REQUIRE(out.size() == 1);
  CHECK(out[0][0].size() == bulk.size());
}

TEST_CASE("a protocol error reads 'ERR Protocol error: ' once") {
  for (const char* bad : {"*1\r\n$x\r\n", "*1\r\n+PING\r\n", "get \"k\r\n", "*-5\r\n"}) {
    INFO(bad);
    std::string e = error_of(bad);
    CHECK(e.starts_with("ERR Protocol error: "));
    CHECK(e.find("Protocol error", 5) == std::string::npos);
  }
}

TEST_CASE("an argument that does not start with '$' is a protocol error naming the byte") {
  CHECK(error_of("*1\r\n+PING\r\n") == "ERR Protocol error: expected '$', got '+'");
  CHECK(error_of("*2\r\n$3\r\nGET\r\n:1\r\n") == "ERR Protocol error: expected '$', got ':'");
}

TEST_CASE("a bulk not followed by CRLF is a protocol error") {
  CHECK(error_of("*1\r\n$4\r\nPINGxx") == "ERR Protocol error: expected CRLF after bulk string");
  CHECK(error_of("*1\r\n$4\r\nPING\rx") == "ERR Protocol error: expected CRLF after bulk string");
  CHECK(error_of("*1\r\n$4\r\nPING\n\n") == "ERR Protocol error: expected CRLF after bulk string");
  CHECK(error_of("*1\r\n$3\r\nPING\r\n") == "ERR Protocol error: expected CRLF after bulk string");
}

TEST_CASE("more arguments than args_max is a protocol error, inline or multibulk") {
  ParserLimits limits;
  limits.args_max = 2;
  CHECK(error_of("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", limits).empty());
  CHECK(error_of("*3\r\n", limits) == "ERR Protocol error: invalid multibulk length");
  CHECK(error_of("GET k\r\n", limits).empty());
  CHECK(error_of("GET k l\r\n", limits) ==
        "ERR Protocol error: too many arguments in inline request");
}

TEST_CASE("an inline line longer than inline_bytes_max fails before its LF arrives") {
  ParserLimits limits;
  limits.inline_bytes_max = 10;
  CHECK(error_of("0123456789\n", limits).empty());
  CHECK(error_of("012345678\r\n", limits).empty());
  CHECK(error_of("0123456789\r\n", limits) == "ERR Protocol error: too big inline request");
  RequestParser parser(limits);
  std::vector<Command> out;
  CHECK(parser.feed("0123456789", &out));
  CHECK_FALSE(parser.feed("0", &out));
  CHECK(parser.error() == "ERR Protocol error: too big inline request");
}

TEST_CASE("an endless count or length line is refused after a few bytes") {
  CHECK(error_of(std::string("*").append(40, '1')) ==
        "ERR Protocol error: too big mbulk count string");
  CHECK(error_of(std::string("*1\r\n$").append(40, '1')) ==
        "ERR Protocol error: too big bulk count string");
}

TEST_CASE("bulks adding up past request_bytes_max are a protocol error") {
  ParserLimits limits;
  limits.request_bytes_max = 6;
  CHECK(error_of("*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n", limits).empty());
  CHECK(error_of("*2\r\n$3\r\nGET\r\n$4\r\n", limits) ==
        "ERR Protocol error: too big request: its arguments add up to more than the limit of 6 "
        "bytes on one command");
  // The budget is per command, not per connection.
  CHECK(
      error_of("*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n", limits).empty());
}

TEST_CASE("commands before a protocol error are delivered; the failed parser stays failed") {
  RequestParser parser;
  std::vector<Command> out;
  CHECK_FALSE(parser.feed("PING\r\n*1\r\n$x\r\nPING\r\n", &out));
  CHECK(out == std::vector<Command>{{"PING"}});
  CHECK(parser.failed());
  CHECK_FALSE(parser.idle());
  CHECK_FALSE(parser.feed("PING\r\n", &out));
  CHECK(out.size() == 1);
  CHECK(parser.error() == "ERR Protocol error: invalid bulk length");
}

TEST_CASE("idle tells a command boundary from a partial command") {
  RequestParser parser;
  std::vector<Command> out;
  CHECK(parser.idle());
  parser.feed("*1\r\n$4\r\nPI", &out);
  CHECK_FALSE(parser.idle());
  CHECK(parser.buffered_bytes() == 2);
  parser.feed("NG\r\n", &out);
  CHECK(parser.idle());
  CHECK(parser.buffered_bytes() == 0);
  parser.feed("PIN", &out);
  CHECK_FALSE(parser.idle());
}

TEST_CASE("an announced huge bulk or count allocates nothing until its bytes arrive") {
  RequestParser parser;
  std::vector<Command> out;
  synod::kv::test::AllocProbe probe;
  CHECK(parser.feed("*1000000\r\n$536870912\r\n", &out));
  CHECK(parser.feed(std::string(1000, 'x'), &out));
  CHECK(probe.largest_bytes() < 64 * 1024);
  CHECK(parser.buffered_bytes() == 1000);
}

TEST_CASE("parse_redis_int64 follows Redis's string2ll") {
  std::int64_t v = 0;
  CHECK((parse_redis_int64("0", &v) && v == 0));
  CHECK((parse_redis_int64("-1", &v) && v == -1));
  CHECK((parse_redis_int64("42", &v) && v == 42));
  CHECK((parse_redis_int64("9223372036854775807", &v) && v == INT64_MAX));
  CHECK((parse_redis_int64("-9223372036854775808", &v) && v == INT64_MIN));
  for (const char* bad :
       {"", "-", "+1", "01", "-0", "00", " 1", "1 ", "1.0", "0x10", "9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "123456789012345678901"}) {
    INFO(bad);
    CHECK_FALSE(parse_redis_int64(bad, &v));
  }
}

TEST_CASE("random streams parse the same whole as byte by byte") {
  // Bytes drawn mostly from RESP's own alphabet, so that streams get deep
  // into the grammar before they break.
  const std::string alphabet = "*$\r\n0123-4 \"'\\xaPING";
  std::uint64_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return seed >> 33;
  };
  ParserLimits limits;
  limits.inline_bytes_max = 16;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes(next() % 40, '\0');
    for (char& c : bytes) c = alphabet[next() % alphabet.size()];
    Parsed whole = parse(bytes, limits);
    std::vector<std::string> bytewise;
    for (char c : bytes) bytewise.emplace_back(1, c);
    INFO(bytes);
    REQUIRE(parse_chunks(bytewise, limits) == whole);
  }
}

// A whole command in one read takes the one-pass path (take_whole_multibulk);
// byte by byte it takes the state machine. Both must agree on every edge of
// the framing, well formed or not.
TEST_CASE("whole commands at the edges of the framing parse as they do byte by byte") {
  ParserLimits limits;
  limits.args_max = 3;
  limits.bulk_bytes_max = 8;
  limits.request_bytes_max = 12;
  const std::vector<std::string> streams = {
      "*1\r\n$0\r\n\r\n",                                    // an empty argument
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\n12345678\r\n",    // at the bulk limit
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9\r\n123456789\r\n",   // over it
      "*3\r\n$3\r\nSET\r\n$4\r\nkkkk\r\n$6\r\n123456\r\n",   // over the request limit
      "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",  // over args_max
      "*2\r\n$3\r\nGET\r\n$01\r\nk\r\n",                     // a leading zero
      "*02\r\n$3\r\nGET\r\n$1\r\nk\r\n",                     // a leading zero in the count
      "*2\r\n$3\r\nGET\r\n$+1\r\nk\r\n",                     // a sign
      "*2\r\n$3\r\nGET\r\n$-1\r\n",                          // a null bulk
      "*2\r\n$3\r\nGET\r\n$1\r\nkX\r\n",                     // a bulk longer than its length
      "*2\r\n$3\r\nGET\r\n$1\nk\r\n",                        // a length without CR
      "*2\r\n$3\r\nGET\r\n:1\r\nk\r\n",                      // not a bulk
      "*-1\r\n*1\r\n$4\r\nPING\r\n",                         // a null array first
      "*0\r\n*1\r\n$4\r\nPING\r\n",                          // an empty array first
      "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI",        // a partial command after a whole one
      "*99999999999999999999\r\n",                           // a count past int64
      "*1\r\n$99999999999999999999\r\n",                     // a length past int64
  };
  for (const std::string& s : streams) {
    INFO(s);
    Parsed whole = parse(s, limits);
    std::vector<std::string> bytewise;
    for (char c : s) bytewise.emplace_back(1, c);
    CHECK(parse_chunks(bytewise, limits) == whole);
  }
  // And the well-formed ones give what they say.
  CHECK(parse("*1\r\n$0\r\n\r\n", limits).commands == std::vector<Command>{{""}});
  CHECK(parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\n12345678\r\n", limits).commands ==
        std::vector<Command>{{"SET", "k", "12345678"}});
  CHECK_FALSE(parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9\r\n123456789\r\n", limits).error.empty());
}

TEST_CASE("a whole command of many arguments parses the same whole and byte by byte") {
  // The one-pass parser's views of 7 to 2000 arguments (over 1024 they are
  // given back after the command: RequestParser::hand_over).
  for (int n : {7, 8, 9, 17, 2000}) {
    // Built with append: GCC 12 at -O3 misreads a chain of string `+`
    // here as an overlapping memcpy (-Wrestrict).
    std::string stream("*");
    stream.append(std::to_string(n)).append("\r\n");
    Command want;
    for (int i = 0; i < n; ++i) {
      std::string arg(static_cast<std::size_t>(i % 40 * 3), static_cast<char>('a' + i % 26));
      stream.append("$").append(std::to_string(arg.size())).append("\r\n");
      stream.append(arg).append("\r\n");
      want.push_back(arg);
    }
    stream += "*1\r\n$4\r\nPING\r\n";
    INFO(n);
    Parsed whole = parse(stream);
    CHECK(whole.error.empty());
    CHECK(whole.commands == std::vector<Command>{want, {"PING"}});
    std::vector<std::string> bytewise;
    for (char c : stream) bytewise.emplace_back(1, c);
    CHECK(parse_chunks(bytewise) == whole);
  }
}

namespace {

// Keeps what each command's views pointed at, and may stop the feed.
struct RecordingSink final : CommandSink {
  std::vector<Command> commands;
  std::vector<std::vector<const char*>> where;  // data() of each word
  std::size_t stop_after = SIZE_MAX;
  bool command(CommandView words) override {
    commands.emplace_back(words.begin(), words.end());
    std::vector<const char*> at;
    for (std::string_view w : words) at.push_back(w.data());
    where.push_back(std::move(at));
    return commands.size() < stop_after;
  }
};

}  // namespace

TEST_CASE("whole commands are handed over as views into the bytes fed, with no allocation") {
  std::string pipeline;
  for (int i = 0; i < 16; ++i)
    pipeline += "*3\r\n$3\r\nSET\r\n$6\r\nkey:" + std::to_string(10 + i) + "\r\n$20\r\n" +
                std::string(20, static_cast<char>('a' + i)) + "\r\n";
  RequestParser parser;
  {
    RecordingSink warm;  // the parser's view vector grows once
    REQUIRE(parser.feed(pipeline, warm));
  }
  struct Counting final : CommandSink {
    const std::string* bytes;
    int commands = 0;
    int inside = 0;  // words whose view points into *bytes
    bool command(CommandView words) override {
      ++commands;
      for (std::string_view w : words)
        if (w.data() >= bytes->data() && w.data() + w.size() <= bytes->data() + bytes->size())
          ++inside;
      return true;
    }
  } sink;
  sink.bytes = &pipeline;
  synod::kv::test::AllocProbe probe;
  REQUIRE(parser.feed(pipeline, sink));
  CHECK(probe.allocations() == 0);
  CHECK(sink.commands == 16);
  CHECK(sink.inside == 48);
}

TEST_CASE("a command that came in pieces is handed over whole, as views of the parser's copy") {
  const std::string stream = "*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
  RequestParser parser;
  RecordingSink sink;
  REQUIRE(parser.feed(stream.substr(0, 20), sink));
  CHECK(sink.commands.empty());
  std::string rest = stream.substr(20);
  REQUIRE(parser.feed(rest, sink));
  REQUIRE(sink.commands == std::vector<Command>{{"GET", "hello"}});
  // Not into the second read: the first part of "hello" came with the first.
  CHECK_FALSE((sink.where[0][1] >= rest.data() && sink.where[0][1] < rest.data() + rest.size()));
  CHECK(parser.idle());
}

TEST_CASE("a sink that says stop ends the feed after that command, the rest unread") {
  const std::string one = "*1\r\n$4\r\nQUIT\r\n";
  const std::string two = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  for (bool whole : {true, false}) {
    INFO((whole ? "whole" : "inline"));
    RequestParser parser;
    RecordingSink sink;
    sink.stop_after = 1;
    if (whole) {
      CHECK(parser.feed(one + two + "garbage", sink));
    } else {
      // An inline QUIT comes through the state machine's path.
      CHECK(parser.feed("QUIT\r\n" + two + "garbage", sink));
    }
    CHECK(sink.commands == std::vector<Command>{{"QUIT"}});
    CHECK_FALSE(parser.failed());  // the garbage after it was never read
    CHECK(parser.idle());
  }
}
