#include "resp_reply.h"

#include <charconv>

namespace synod::kv {

void ReplyWriter::line(char type, std::string_view text) {
  out_->push_back(type);
  std::size_t start = out_->size();
  out_->append(text);
  for (std::size_t i = start; i < out_->size(); ++i) {
    char& c = (*out_)[i];
    if (c == '\r' || c == '\n') c = ' ';
  }
  out_->append("\r\n");
}

void ReplyWriter::number(char type, std::int64_t n) {
  char buf[24];
  buf[0] = type;
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
  (void)ec;  // 20 characters always fit an int64
  *end++ = '\r';
  *end++ = '\n';
  out_->append(buf, static_cast<std::size_t>(end - buf));
}

void ReplyWriter::simple(std::string_view s) { line('+', s); }
void ReplyWriter::error(std::string_view message) { line('-', message); }
void ReplyWriter::integer(std::int64_t n) { number(':', n); }
void ReplyWriter::null_bulk() { out_->append("$-1\r\n"); }
void ReplyWriter::null_array() { out_->append("*-1\r\n"); }

void ReplyWriter::bulk(std::string_view s) {
  number('$', static_cast<std::int64_t>(s.size()));
  out_->append(s);
  out_->append("\r\n");
}

void ReplyWriter::array_header(std::size_t count) { number('*', static_cast<std::int64_t>(count)); }

void ReplyWriter::reply(const Reply& r) {
  switch (r.kind) {
    case Reply::Kind::simple:
      return simple(r.str);
    case Reply::Kind::error:
      return error(r.str);
    case Reply::Kind::integer:
      return integer(r.num);
    case Reply::Kind::bulk:
      return bulk(r.str);
    case Reply::Kind::null:
      return null_bulk();
    case Reply::Kind::array:
      array_header(r.elements.size());
      for (const Reply& e : r.elements) reply(e);
      return;
    case Reply::Kind::null_array:
      return null_array();
  }
}

std::string to_resp(const Reply& r) {
  // Every replica answers each applied SET with this; built without the
  // writer's per-character scan.
  if (r.kind == Reply::Kind::simple && r.str == "OK") return "+OK\r\n";
  std::string out;
  ReplyWriter(&out).reply(r);
  return out;
}

}  // namespace synod::kv
