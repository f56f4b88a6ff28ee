// Incremental RESP2 request parser: the bytes a Redis client sends become
// argument vectors. No I/O; the server feeds whatever each read returned.
//
// Accepts both request forms Redis accepts (redis-cli and redis-benchmark
// use both): multibulk arrays `*N\r\n$len\r\n<bytes>\r\n...` and inline
// commands `PING\r\n` split on blanks with Redis's quoting rules.
//
// Contract:
// - Output does not depend on how the stream is split: feeding it whole or
//   byte by byte yields the same commands and the same error.
// - Memory held for a partial command is bounded by the bytes that have
//   arrived plus ParserLimits, never by a length field alone: a client that
//   announces `$536870912` and sends nothing costs nothing.
// - After a protocol error the parser is failed for good. The caller replies
//   `-` + error() and closes the connection, as Redis does, since the stream
//   can no longer be framed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace synod::kv {

// One client command: the name first, then its arguments, binary safe.
using Command = std::vector<std::string>;
// The same words as views: into the bytes being fed when the command came
// whole in them, else into the parser's own copy of a command that came in
// pieces. Valid only while the sink that receives them runs.
using CommandView = std::span<const std::string_view>;

// Where the parser hands each command as it completes (RequestParser::feed).
class CommandSink {
 public:
  // Returns false to stop the feed after this command (say, after QUIT).
  // Must not feed the parser that called it (its views would move).
  virtual bool command(CommandView words) = 0;

 protected:
  ~CommandSink() = default;
};

struct ParserLimits {
  // Arguments per command, name included (`*N` above this is an error).
  std::size_t args_max = 1024 * 1024;
  // One bulk string; Redis's proto-max-bulk-len default.
  std::size_t bulk_bytes_max = 512 * 1024 * 1024;
  // One inline command line, excluding its line feed; Redis's
  // PROTO_INLINE_MAX_SIZE.
  std::size_t inline_bytes_max = 64 * 1024;
  // Sum of the declared bulk lengths of one command, so that many bulks
  // under bulk_bytes_max cannot add up to unbounded memory.
  std::size_t request_bytes_max = std::size_t{1024} * 1024 * 1024;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});

  // Consumes all of `bytes` (a partial command is kept for the next call)
  // and hands each command completed by them to sink.command(), in stream
  // order, as views (CommandView): a command that came whole in `bytes` is
  // parsed in one pass and copied nowhere. Empty commands (`*0`, `*-1`, a
  // blank inline line) are skipped, as Redis skips them. If the sink returns
  // false the feed stops there, the rest of `bytes` unread. Returns false if
  // the stream is malformed: then the sink had the commands that preceded
  // the error, error() says what went wrong, and every later call returns
  // false and consumes nothing.
  bool feed(std::string_view bytes, CommandSink& sink);
  // The same, appending copies of the commands to *out.
  bool feed(std::string_view bytes, std::vector<Command>* out);

  bool failed() const { return !error_.empty(); }
  // The error reply text without the leading '-', e.g.
  // "ERR Protocol error: invalid bulk length"; empty unless failed().
  const std::string& error() const { return error_; }
  // True at a command boundary: nothing of a next command has arrived.
  bool idle() const { return state_ == State::start && !failed(); }
  // Bytes held for the partial command (for the caller's memory accounting).
  std::size_t buffered_bytes() const;

 private:
  enum class State : std::uint8_t {
    start,        // at a command boundary
    count_line,   // after '*': the argument count up to CRLF
    bulk_prefix,  // expecting '$'
    length_line,  // after '$': the bulk length up to CRLF
    bulk_body,    // bulk_left_ bytes of the current argument
    bulk_cr,      // the CR after a bulk
    bulk_lf,      // the LF after a bulk
    inline_line,  // an inline command up to LF
  };

  enum class Taken : std::uint8_t { none, taken, stop };
  // At a command boundary: hands one whole, plain multibulk command from the
  // front of *in to the sink at once (Taken::stop if the sink said so), or
  // returns Taken::none having consumed nothing.
  Taken take_whole_multibulk(std::string_view* in, CommandSink& sink);
  // Each consumes a prefix of *in (possibly all of it) and advances state_;
  // those that may complete a command return the sink's answer (true when
  // none completed).
  void on_start(std::string_view* in);
  void on_number_line(std::string_view* in);
  void on_bulk_prefix(std::string_view* in);
  void on_bulk_body(std::string_view* in);
  bool on_bulk_crlf(std::string_view* in, CommandSink& sink);
  bool on_inline_line(std::string_view* in, CommandSink& sink);

  void accept_count(std::int64_t count);
  void accept_length(std::int64_t length);
  bool finish_inline(CommandSink& sink);
  bool emit(CommandSink& sink);
  bool hand_over(CommandSink& sink);  // views_ to the sink
  void fail(std::string_view why);

  ParserLimits limits_;
  State state_ = State::start;
  // The partial count, length or inline line. Invariant: at most
  // inline_bytes_max bytes (inline) or kNumberLineBytesMax (numbers).
  std::string line_;
  // Arguments of the command being read. Invariant: args_.size() <=
  // args_expected_ <= limits_.args_max.
  Command args_;
  std::size_t args_expected_ = 0;
  std::size_t bulk_left_ = 0;      // bytes of args_.back() still to come
  std::size_t request_bytes_ = 0;  // declared bulk bytes of this command
  // The views handed to the sink, reused: no allocation per command once
  // grown. Invariant: at most args_max entries, and at most kViewsKeptMax
  // (resp_parser.cc) of capacity kept between commands.
  std::vector<std::string_view> views_;
  std::string error_;
};

// Parses a signed decimal exactly as Redis's string2ll does, which decides
// both RESP lengths and what INCR accepts: optional '-', no '+', no blanks,
// no leading zeros, no "-0", within int64. Returns false otherwise.
bool parse_redis_int64(std::string_view text, std::int64_t* value);

// Splits an inline command line the way Redis's sdssplitargs does: blanks
// separate arguments, "double quotes" take \n \r \t \b \a \xHH and \<c>
// escapes, 'single quotes' take \' only, and a closing quote must be
// followed by a blank or the end. Returns false on unbalanced quotes.
bool split_inline_args(std::string_view line, Command* args);

}  // namespace synod::kv
