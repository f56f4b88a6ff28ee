#include "resp_reply.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

using namespace synod::kv;

TEST_CASE("each reply kind has Redis's wire form") {
  CHECK(to_resp(Reply::ok()) == "+OK\r\n");
  CHECK(to_resp(Reply::simple("PONG")) == "+PONG\r\n");
  CHECK(to_resp(Reply::error("ERR syntax error")) == "-ERR syntax error\r\n");
  CHECK(to_resp(Reply::integer(0)) == ":0\r\n");
  CHECK(to_resp(Reply::integer(-42)) == ":-42\r\n");
  CHECK(to_resp(Reply::integer(INT64_MIN)) == ":-9223372036854775808\r\n");
  CHECK(to_resp(Reply::integer(INT64_MAX)) == ":9223372036854775807\r\n");
  CHECK(to_resp(Reply::bulk("")) == "$0\r\n\r\n");
  CHECK(to_resp(Reply::bulk(std::string("a\r\n\0b", 5))) == std::string("$5\r\na\r\n\0b\r\n", 11));
  CHECK(to_resp(Reply::null()) == "$-1\r\n");
  CHECK(to_resp(Reply::array({})) == "*0\r\n");
  CHECK(to_resp(Reply::array({Reply::bulk("save"), Reply::bulk(""),
                              Reply::array({Reply::integer(1), Reply::null()})})) ==
        "*3\r\n$4\r\nsave\r\n$0\r\n\r\n*2\r\n:1\r\n$-1\r\n");
}

TEST_CASE("CR and LF in simple strings and errors become spaces") {
  CHECK(to_resp(Reply::error("ERR unknown command 'a\r\nb'")) == "-ERR unknown command 'a  b'\r\n");
  CHECK(to_resp(Reply::simple("x\ny")) == "+x y\r\n");
}

TEST_CASE("the writer appends to the caller's buffer and streams arrays") {
  std::string out = "prefix";
  ReplyWriter w(&out);
  w.array_header(2);
  w.bulk("a");
  w.null_bulk();
  w.null_array();
  w.integer(7);
  CHECK(out == "prefix*2\r\n$1\r\na\r\n$-1\r\n*-1\r\n:7\r\n");
}

TEST_CASE("replies compare by value") {
  CHECK(Reply::bulk("a") == Reply::bulk("a"));
  CHECK(Reply::bulk("a") != Reply::simple("a"));
  CHECK(Reply::null() != Reply::bulk(""));
  CHECK(Reply::error("ERR x").is_error());
}
