// RESP2 replies: a value type for what a command answers, and a writer that
// appends the wire form to an output buffer. No I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace synod::kv {

// One reply as a value, so the state machine can answer without knowing
// about connections and tests can compare answers.
struct Reply {
  enum class Kind : std::uint8_t {
    simple,      // +str
    error,       // -str; str starts with the error code, e.g. "ERR ..."
    integer,     // :num
    bulk,        // $len str, binary safe
    null,        // $-1, the null bulk string
    array,       // *n elements
    null_array,  // *-1: EXEC of a transaction a WATCHed key change aborted
  };
  Kind kind = Kind::null;
  std::string str;              // simple, error, bulk
  std::int64_t num = 0;         // integer
  std::vector<Reply> elements;  // array

  static Reply simple(std::string s) { return {Kind::simple, std::move(s), 0, {}}; }
  static Reply ok() { return simple("OK"); }
  // `message` is the text after '-', code first: "ERR syntax error".
  static Reply error(std::string message) { return {Kind::error, std::move(message), 0, {}}; }
  static Reply integer(std::int64_t n) { return {Kind::integer, {}, n, {}}; }
  static Reply bulk(std::string s) { return {Kind::bulk, std::move(s), 0, {}}; }
  static Reply null() { return {}; }
  static Reply array(std::vector<Reply> items) { return {Kind::array, {}, 0, std::move(items)}; }
  static Reply null_array() { return {Kind::null_array, {}, 0, {}}; }

  bool is_error() const { return kind == Kind::error; }
  friend bool operator==(const Reply&, const Reply&) = default;
};

// Appends replies to a buffer the caller owns and later writes to a socket.
// Simple strings and errors cannot hold CR or LF on the wire; like Redis,
// the writer turns them into spaces rather than emit a broken stream (error
// texts may quote client input).
class ReplyWriter {
 public:
  // `out` must outlive the writer; replies are appended, never cleared.
  explicit ReplyWriter(std::string* out) : out_(out) {}

  void simple(std::string_view s);
  void error(std::string_view message);  // without the '-': "ERR ..."
  void integer(std::int64_t n);
  void bulk(std::string_view s);
  void null_bulk();
  // Announces `count` elements; the caller then writes exactly that many.
  void array_header(std::size_t count);
  void null_array();
  void reply(const Reply& r);

 private:
  void line(char type, std::string_view text);
  void number(char type, std::int64_t n);
  std::string* out_;
};

// The wire form of one reply, e.g. to_resp(Reply::ok()) == "+OK\r\n".
std::string to_resp(const Reply& r);

}  // namespace synod::kv
