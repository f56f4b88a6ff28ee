#include "resp_parser.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace synod::kv {
namespace {

// A count or length line is '*' or '$', at most 20 digits and a sign, then
// CR. Anything longer is garbage; stopping early keeps a hostile client from
// making us buffer Redis's 64 KiB of it first.
constexpr std::size_t kNumberLineBytesMax = 32;
// Arguments reserved up front: `*1000000` alone must not allocate a million
// strings before any arrive.
constexpr std::size_t kArgsReserveMax = 64;
// Views kept for the next command, at most (RequestParser::views_).
constexpr std::size_t kViewsKeptMax = 1024;

}  // namespace

bool parse_redis_int64(std::string_view s, std::int64_t* value) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    *value = 0;
    return true;
  }
  bool negative = s[0] == '-';
  std::size_t i = negative ? 1 : 0;
  if (i >= s.size() || s[i] < '1' || s[i] > '9') return false;
  std::uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    std::uint64_t digit = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    v = v * 10 + digit;
  }
  constexpr std::uint64_t kMaxPositive = std::numeric_limits<std::int64_t>::max();
  if (negative) {
    if (v > kMaxPositive + 1) return false;
    // Negate in unsigned arithmetic: -(2^63) has no positive int64 twin.
    *value = static_cast<std::int64_t>(~v + 1);
  } else {
    if (v > kMaxPositive) return false;
    *value = static_cast<std::int64_t>(v);
  }
  return true;
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

std::size_t RequestParser::buffered_bytes() const {
  std::size_t n = line_.size();
  for (const auto& a : args_) n += a.size();
  return n;
}

bool RequestParser::feed(std::string_view in, CommandSink& sink) {
  while (!in.empty() && !failed()) {
    switch (state_) {
      case State::start:
        switch (take_whole_multibulk(&in, sink)) {
          case Taken::taken:
            break;
          case Taken::stop:
            return true;
          case Taken::none:
            on_start(&in);
            break;
        }
        break;
      case State::count_line:
      case State::length_line:
        on_number_line(&in);
        break;
      case State::bulk_prefix:
        on_bulk_prefix(&in);
        break;
      case State::bulk_body:
        on_bulk_body(&in);
        break;
      case State::bulk_cr:
      case State::bulk_lf:
        if (!on_bulk_crlf(&in, sink)) return true;
        break;
      case State::inline_line:
        if (!on_inline_line(&in, sink)) return true;
        break;
    }
  }
  return !failed();
}

bool RequestParser::feed(std::string_view in, std::vector<Command>* out) {
  struct Copies final : CommandSink {
    std::vector<Command>* out;
    explicit Copies(std::vector<Command>* o) : out(o) {}
    bool command(CommandView words) override {
      out->emplace_back(words.begin(), words.end());
      return true;
    }
  } copies(out);
  return feed(in, copies);
}

namespace {

// The unsigned decimal at the front of `in` up to CRLF, in Redis's form (no
// sign, no leading zero but "0" itself), at most 18 digits; advances past
// the CRLF. False, leaving `in` alone, for anything else or an incomplete
// line: the state machine then decides, with its own errors.
bool take_plain_number(std::string_view* in, std::size_t* value) {
  const char* p = in->data();
  const std::size_t n = std::min<std::size_t>(in->size(), 19);
  std::size_t i = 0, v = 0;
  for (; i < n; ++i) {
    const auto digit = static_cast<unsigned char>(p[i] - '0');
    if (digit > 9) break;
    v = v * 10 + digit;
  }
  if (i == 0 || i > 18 || (i > 1 && p[0] == '0')) return false;
  if (i + 1 >= in->size() || p[i] != '\r' || p[i + 1] != '\n') return false;
  in->remove_prefix(i + 2);
  *value = v;
  return true;
}

}  // namespace

// What a pipelining client sends, a whole `*N` command of `$len` bulks in
// one read, parsed in one pass: each argument becomes a view into `in`,
// copied nowhere (the sink copies what it keeps). Anything unusual (a
// partial command, an error, a limit, an empty array) is left to the state
// machine untouched, so the output and every error stay what they were; a
// command cut by the end of a read is read twice, once here.
RequestParser::Taken RequestParser::take_whole_multibulk(std::string_view* in, CommandSink& sink) {
  std::string_view s = *in;
  if (s.size() < 4 || s[0] != '*') return Taken::none;
  s.remove_prefix(1);
  std::size_t count = 0;
  // Past kViewsKeptMax arguments the state machine takes it: a command
  // left partial here would keep views_ grown (only hand_over trims it).
  if (!take_plain_number(&s, &count) || count == 0 || count > limits_.args_max ||
      count > kViewsKeptMax || count > s.size() / 4)  // each bulk takes at least "$0\r\n\r\n"
    return Taken::none;
  views_.clear();
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t len = 0;
    if (s.empty() || s[0] != '$') return Taken::none;
    s.remove_prefix(1);
    if (!take_plain_number(&s, &len) || len > limits_.bulk_bytes_max) return Taken::none;
    total += len;
    if (total > limits_.request_bytes_max || s.size() < len + 2 || s[len] != '\r' ||
        s[len + 1] != '\n')
      return Taken::none;
    views_.push_back(s.substr(0, len));
    s.remove_prefix(len + 2);
  }
  *in = s;
  return hand_over(sink) ? Taken::taken : Taken::stop;
}

void RequestParser::on_start(std::string_view* in) {
  line_.clear();
  args_.clear();
  args_expected_ = 0;
  request_bytes_ = 0;
  if ((*in)[0] == '*') {
    in->remove_prefix(1);
    state_ = State::count_line;
  } else {
    state_ = State::inline_line;  // the first byte belongs to the line
  }
}

// Count and length lines share framing: digits up to CRLF, bounded.
void RequestParser::on_number_line(std::string_view* in) {
  const bool is_count = state_ == State::count_line;
  std::size_t lf = in->find('\n');
  std::size_t take = lf == std::string_view::npos ? in->size() : lf;
  if (line_.size() + take > kNumberLineBytesMax) {
    return fail(is_count ? "too big mbulk count string" : "too big bulk count string");
  }
  line_.append(in->substr(0, take));
  if (lf == std::string_view::npos) {
    in->remove_prefix(take);
    return;
  }
  in->remove_prefix(take + 1);
  std::int64_t n = 0;
  // A bare LF (no CR) leaves a non-digit in the number, as in Redis.
  bool ok = !line_.empty() && line_.back() == '\r' &&
            parse_redis_int64(std::string_view(line_).substr(0, line_.size() - 1), &n);
  line_.clear();
  if (!ok) return fail(is_count ? "invalid multibulk length" : "invalid bulk length");
  if (is_count) {
    accept_count(n);
  } else {
    accept_length(n);
  }
}

void RequestParser::accept_count(std::int64_t count) {
  // `*0` and the null array `*-1` are empty requests Redis skips; anything
  // more negative is no RESP value at all (Redis skips that too; we refuse
  // it, since only a broken client sends it).
  if (count < -1 || (count > 0 && static_cast<std::uint64_t>(count) > limits_.args_max)) {
    return fail("invalid multibulk length");
  }
  if (count <= 0) {
    state_ = State::start;
    return;
  }
  args_expected_ = static_cast<std::size_t>(count);
  args_.reserve(std::min(args_expected_, kArgsReserveMax));
  state_ = State::bulk_prefix;
}

void RequestParser::on_bulk_prefix(std::string_view* in) {
  char c = (*in)[0];
  if (c != '$') {
    std::string why = "expected '$', got '";
    why.push_back(c);
    why.push_back('\'');
    return fail(why);
  }
  in->remove_prefix(1);
  state_ = State::length_line;
}

void RequestParser::accept_length(std::int64_t length) {
  if (length < 0) return fail("invalid bulk length");
  // Refused on the length line, before any of the bulk is read or buffered:
  // a client announcing 512 MB costs us nothing, and hears why at once.
  if (static_cast<std::uint64_t>(length) > limits_.bulk_bytes_max) {
    return fail("invalid bulk length " + std::to_string(length) + ": above the limit of " +
                std::to_string(limits_.bulk_bytes_max) + " bytes on one argument");
  }
  bulk_left_ = static_cast<std::size_t>(length);
  request_bytes_ += bulk_left_;
  if (request_bytes_ > limits_.request_bytes_max) {
    return fail("too big request: its arguments add up to more than the limit of " +
                std::to_string(limits_.request_bytes_max) + " bytes on one command");
  }
  args_.emplace_back();
  state_ = bulk_left_ == 0 ? State::bulk_cr : State::bulk_body;
}

void RequestParser::on_bulk_body(std::string_view* in) {
  std::size_t take = std::min(bulk_left_, in->size());
  std::string& arg = args_.back();
  // Size the string from bytes that arrived, not from the length field:
  // at most twice this chunk, then the string grows as more data comes.
  if (arg.empty()) arg.reserve(take == bulk_left_ ? take : std::min(bulk_left_, 2 * take));
  arg.append(in->data(), take);
  in->remove_prefix(take);
  bulk_left_ -= take;
  if (bulk_left_ == 0) state_ = State::bulk_cr;
}

bool RequestParser::on_bulk_crlf(std::string_view* in, CommandSink& sink) {
  // Redis skips these two bytes unchecked; checking catches a client whose
  // length fields disagree with its data before it desynchronizes silently.
  char want = state_ == State::bulk_cr ? '\r' : '\n';
  if ((*in)[0] != want) {
    fail("expected CRLF after bulk string");
    return true;
  }
  in->remove_prefix(1);
  if (state_ == State::bulk_cr) {
    state_ = State::bulk_lf;
    return true;
  }
  if (args_.size() == args_expected_) return emit(sink);
  state_ = State::bulk_prefix;
  return true;
}

bool RequestParser::on_inline_line(std::string_view* in, CommandSink& sink) {
  std::size_t lf = in->find('\n');
  std::size_t take = lf == std::string_view::npos ? in->size() : lf;
  if (line_.size() + take > limits_.inline_bytes_max) {
    fail("too big inline request");
    return true;
  }
  line_.append(in->substr(0, take));
  if (lf == std::string_view::npos) {
    in->remove_prefix(take);
    return true;
  }
  in->remove_prefix(take + 1);
  return finish_inline(sink);
}

bool RequestParser::finish_inline(CommandSink& sink) {
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!split_inline_args(line, &args_)) {
    fail("unbalanced quotes in request");
    return true;
  }
  line_.clear();
  if (args_.size() > limits_.args_max) {
    fail("too many arguments in inline request");
    return true;
  }
  if (args_.empty()) {
    state_ = State::start;
    return true;
  }
  return emit(sink);
}

// A command assembled from pieces: views into args_, which is dropped once
// the sink is done with them.
bool RequestParser::emit(CommandSink& sink) {
  views_.assign(args_.begin(), args_.end());
  state_ = State::start;
  bool more = hand_over(sink);
  args_ = Command{};
  return more;
}

bool RequestParser::hand_over(CommandSink& sink) {
  bool more = sink.command(views_);
  // A command of a million words must not keep 16 MB of views for ever.
  if (views_.capacity() > kViewsKeptMax) views_ = std::vector<std::string_view>{};
  return more;
}

void RequestParser::fail(std::string_view why) {
  error_ = "ERR Protocol error: ";
  error_.append(why);
  // Drop the partial command now: a failed parser never needs it again.
  line_ = std::string{};
  args_ = Command{};
}

}  // namespace synod::kv
