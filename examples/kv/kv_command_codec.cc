#include "kv_command_codec.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace synod::kv {
namespace {

bool is_logged(Op op) {
  switch (op) {
    case Op::get:
    case Op::set:
    case Op::del:
    case Op::incr:
    case Op::exists:
    case Op::dbsize:
    case Op::node_addresses:
    case Op::incrby:
    case Op::decrby:
    case Op::decr:
    case Op::getset:
    case Op::mset:
    case Op::mget:
    case Op::msetnx:
    case Op::txn:
      return true;
    default:
      return false;
  }
}

// The log's arity rule, fixed with the format: the same shapes
// parse_request produces for each replicated op.
bool arity_valid(Op op, std::uint64_t count) {
  switch (op) {
    case Op::get:
    case Op::incr:
    case Op::decr:
      return count == 1;
    case Op::set:
    case Op::getset:
    case Op::incrby:
    case Op::decrby:
      return count == 2;
    case Op::del:
    case Op::exists:
    case Op::mget:
      return count >= 1;
    case Op::mset:
    case Op::msetnx:
      return count >= 2 && count % 2 == 0;
    case Op::txn:  // the watch block, then zero or more commands
      return count >= 1;
    case Op::dbsize:
      return count == 0;
    case Op::node_addresses:
      return count >= 3 && count % 3 == 0;
    default:
      return false;
  }
}

std::size_t varint_bytes(std::uint64_t v) {
  std::size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// put_varint's bytes at p, which has room for them; returns the end.
char* write_varint(char* p, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) *p++ = static_cast<char>((v & 0x7f) | 0x80);
  *p++ = static_cast<char>(v);
  return p;
}

}  // namespace

void put_varint(std::string* out, std::uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool get_varint(std::string_view* in, std::uint64_t* v) {
  std::uint64_t result = 0;
  for (unsigned shift = 0, i = 0; i < in->size() && shift < 64; ++i, shift += 7) {
    auto byte = static_cast<std::uint8_t>((*in)[i]);
    std::uint64_t bits = byte & 0x7f;
    if (shift == 63 && bits > 1) return false;
    result |= bits << shift;
    if ((byte & 0x80) == 0) {
      in->remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

std::string encode(const Request& request) {
  RequestViews views(request);
  return encode(views.ref());
}

std::string encode(const RequestRef& request) {
  if (!is_logged(request.op) || !arity_valid(request.op, request.args.size())) {
    // A caller bug: logging this would make every replica reject it later.
    std::fprintf(stderr, "synod-kv: encode of invalid request '%.*s'\n",
                 static_cast<int>(name_of(request.op).size()), name_of(request.op).data());
    std::abort();
  }
  // Sized exactly and written through a pointer: push_back per byte and
  // append per argument cost a SET's leader ~250 instructions more
  // (docs/benchmarks.md, "synod-kv").
  std::size_t size = 1 + (request.op == Op::set ? 1 : 0) + varint_bytes(request.args.size());
  for (const auto& a : request.args) size += varint_bytes(a.size()) + a.size();
  std::string out(size, '\0');
  char* p = out.data();
  *p++ = static_cast<char>(request.op);
  if (request.op == Op::set) *p++ = static_cast<char>(request.condition);
  p = write_varint(p, request.args.size());
  for (const auto& a : request.args) {
    p = write_varint(p, a.size());
    if (!a.empty()) std::memcpy(p, a.data(), a.size());
    p += a.size();
  }
  return out;
}

bool decode_view(std::string_view in, RequestView* r, std::string_view* why) {
  auto reject = [why](std::string_view reason) {
    if (why != nullptr) *why = reason;
    return false;
  };
  r->args.clear();
  r->condition = SetCondition::always;
  if (in.empty()) return reject("empty");
  // Any byte is a valid Op value (its underlying type is uint8_t), but only
  // replicated ops have an encoding.
  r->op = static_cast<Op>(static_cast<std::uint8_t>(in[0]));
  in.remove_prefix(1);
  if (!is_logged(r->op)) return reject("unknown op tag");
  if (r->op == Op::set) {
    if (in.empty()) return reject("truncated condition");
    auto c = static_cast<std::uint8_t>(in[0]);
    if (c > static_cast<std::uint8_t>(SetCondition::if_present)) {
      return reject("unknown SET condition");
    }
    r->condition = static_cast<SetCondition>(c);
    in.remove_prefix(1);
  }
  std::uint64_t count = 0;
  if (!get_varint(&in, &count)) return reject("bad argument count");
  // Each argument takes at least its one-byte length, so a count above the
  // bytes left is a lie; checking first bounds the reserve below.
  if (count > in.size()) return reject("argument count past the end");
  if (!arity_valid(r->op, count)) return reject("wrong arity");
  r->args.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t len = 0;
    if (!get_varint(&in, &len)) return reject("bad argument length");
    if (len > in.size()) return reject("argument past the end");
    r->args.push_back(in.substr(0, len));
    in.remove_prefix(len);
  }
  if (!in.empty()) return reject("trailing bytes");
  return true;
}

std::optional<Request> decode(std::string_view in, std::string_view* why) {
  RequestView view;
  if (!decode_view(in, &view, why)) return std::nullopt;
  Request r;
  r.op = view.op;
  r.condition = view.condition;
  r.args.assign(view.args.begin(), view.args.end());
  return r;
}

}  // namespace synod::kv
