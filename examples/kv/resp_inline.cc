// Inline commands (`PING\r\n`): splitting a line into words the way
// Redis's sdssplitargs does (resp_parser.h, split_inline_args).
#include "resp_parser.h"

namespace synod::kv {
namespace {

bool is_blank(char c) {  // C isspace in the "C" locale
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool ends_token(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char unescape(char c) {
  switch (c) {
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'b':
      return '\b';
    case 'a':
      return '\a';
    default:
      return c;
  }
}

// Reads one "double quoted" token body starting after the opening quote;
// returns the index after the closing quote, or npos if unbalanced.
std::size_t read_double_quoted(std::string_view s, std::size_t i, std::string* token) {
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && hex_value(s[i + 2]) >= 0 &&
        hex_value(s[i + 3]) >= 0) {
      token->push_back(static_cast<char>(hex_value(s[i + 2]) * 16 + hex_value(s[i + 3])));
      i += 4;
    } else if (c == '\\' && i + 1 < s.size()) {
      token->push_back(unescape(s[i + 1]));
      i += 2;
    } else if (c == '"') {
      // Redis demands a blank after the closing quote: `"a"b` is an error.
      if (i + 1 < s.size() && !is_blank(s[i + 1])) return std::string_view::npos;
      return i + 1;
    } else {
      token->push_back(c);
      ++i;
    }
  }
  return std::string_view::npos;
}

std::size_t read_single_quoted(std::string_view s, std::size_t i, std::string* token) {
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && s[i + 1] == '\'') {
      token->push_back('\'');
      i += 2;
    } else if (c == '\'') {
      if (i + 1 < s.size() && !is_blank(s[i + 1])) return std::string_view::npos;
      return i + 1;
    } else {
      token->push_back(c);
      ++i;
    }
  }
  return std::string_view::npos;
}

}  // namespace

bool split_inline_args(std::string_view s, Command* args) {
  std::size_t i = 0;
  for (;;) {
    while (i < s.size() && is_blank(s[i])) ++i;
    if (i == s.size()) return true;
    std::string token;
    // A quote may open mid-token (`a"b c"` is `ab c`), as in sdssplitargs.
    while (i < s.size() && !ends_token(s[i])) {
      char c = s[i];
      if (c == '"' || c == '\'') {
        i = c == '"' ? read_double_quoted(s, i + 1, &token) : read_single_quoted(s, i + 1, &token);
        if (i == std::string_view::npos) return false;
        break;
      }
      token.push_back(c);
      ++i;
    }
    args->push_back(std::move(token));
  }
}

}  // namespace synod::kv
