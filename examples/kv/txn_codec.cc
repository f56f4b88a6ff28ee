#include "txn_codec.h"

#include "kv_command_codec.h"

namespace synod::kv {

std::string encode_watch_block(std::span<const WatchedKey> watched) {
  std::string out;
  put_varint(&out, watched.size());
  for (const WatchedKey& w : watched) {
    put_varint(&out, w.key.size());
    out.append(w.key);
    put_varint(&out, w.version);
  }
  return out;
}

bool decode_watch_block(std::string_view in, std::vector<WatchedKeyView>* out) {
  out->clear();
  std::uint64_t count = 0;
  // Each key takes at least two bytes (length, version): bounds the reserve.
  if (!get_varint(&in, &count) || count > in.size() / 2) return false;
  out->reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t len = 0, version = 0;
    if (!get_varint(&in, &len) || len > in.size()) return false;
    std::string_view key = in.substr(0, len);
    in.remove_prefix(len);
    if (!get_varint(&in, &version)) return false;
    out->push_back({key, version});
  }
  return in.empty();
}

bool allowed_in_txn(Op op) {
  switch (op) {
    case Op::get:
    case Op::set:
    case Op::del:
    case Op::incr:
    case Op::exists:
    case Op::dbsize:
    case Op::incrby:
    case Op::decrby:
    case Op::decr:
    case Op::getset:
    case Op::mset:
    case Op::mget:
    case Op::msetnx:
      return true;
    default:
      return false;
  }
}

Request make_txn(std::span<const WatchedKey> watched, std::span<const Request> queued) {
  Request r;
  r.op = Op::txn;
  r.args.reserve(1 + queued.size());
  r.args.push_back(encode_watch_block(watched));
  for (const Request& q : queued) r.args.push_back(encode(q));
  return r;
}

}  // namespace synod::kv
