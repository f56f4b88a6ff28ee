// The bytes a replicated request occupies in the log. Every replica decodes
// them to apply them, possibly years later and from another binary, so the
// format is fixed and decoding trusts nothing.
//
// Format (integers are unsigned LEB128 varints):
//   op tag (1 byte, Op value)  [SET only: condition (1 byte)]
//   argument count, then per argument: length, bytes
// node_addresses (tag 7, internal) carries its arguments in triples: id in
// decimal, peer address, client address. txn (tag 15, internal) carries a
// watch block and then each queued command's own encoding (txn_codec.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv_command.h"

namespace synod::kv {

// Precondition: route_of(request.op) != Route::local and request came from
// parse_request (or decode), so its arity is valid.
std::string encode(const RequestRef& request);
std::string encode(const Request& request);

// Returns the request, or nullopt if `bytes` is not exactly one valid
// encoding: unknown tag, local op, bad condition, wrong arity, truncated or
// overlong varint, length past the end, trailing bytes. On nullopt, *why
// (if given) names the first problem. Memory used is proportional to
// bytes.size(), whatever the length fields claim.
std::optional<Request> decode(std::string_view bytes, std::string_view* why = nullptr);

// The same decoding, with the arguments left in `bytes` (valid while it is):
// what KvStore::apply reads, so applying a SET copies its value once, into
// the map, instead of into a Request first.
struct RequestView {
  Op op = Op::ping;
  SetCondition condition = SetCondition::always;
  std::vector<std::string_view> args;  // reused: no allocation once grown
};
// Same verdicts as decode(). On false, *out is unspecified.
bool decode_view(std::string_view bytes, RequestView* out, std::string_view* why = nullptr);

// Unsigned LEB128, shared with KvStore snapshots. get_varint consumes the
// varint from the front of *in; it rejects truncation and encodings longer
// than 10 bytes or above 2^64 - 1, leaving *in unchanged then.
void put_varint(std::string* out, std::uint64_t v);
bool get_varint(std::string_view* in, std::uint64_t* v);

}  // namespace synod::kv
