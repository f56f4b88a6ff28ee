#include "txn_session.h"

#include <algorithm>
#include <charconv>

namespace synod::kv {
namespace {

// An upper bound on a request's bytes inside the txn entry: its own
// encoding (tag, condition, count, each argument's length and bytes) and
// the length in front of it.
std::size_t encoded_bound(const Request& r) {
  std::size_t n = 10 + 12;
  for (const std::string& a : r.args) n += 10 + a.size();
  return n;
}

// One watched key's share of the watch block's bound.
std::size_t watched_key_bytes(const std::string& key) { return 20 + key.size(); }

std::size_t watch_bound(const WatchList& w) {
  std::size_t n = 10 + 10;
  for (const WatchedKey& k : w.keys) n += watched_key_bytes(k.key);
  return n;
}

Reply too_large(const TxnLimits& limits) {
  return Reply::error("ERR transaction too large: synod-kv queues at most " +
                      std::to_string(limits.commands_max) + " commands and " +
                      std::to_string(limits.bytes_max) + " bytes between MULTI and EXEC");
}

// Reads "<digits>\r\n" from the front of *in.
bool get_line_number(std::string_view* in, std::uint64_t* v) {
  std::size_t end = in->find("\r\n");
  if (end == std::string_view::npos || end == 0) return false;
  auto [p, ec] = std::from_chars(in->data(), in->data() + end, *v);
  if (ec != std::errc() || p != in->data() + end) return false;
  in->remove_prefix(end + 2);
  return true;
}

}  // namespace

void resolve_watch(WatchList& list, std::size_t from, std::size_t count,
                   const std::optional<std::vector<std::uint64_t>>& versions) {
  for (std::size_t i = 0; i < count && from + i < list.keys.size(); ++i) {
    list.keys[from + i].version = versions ? (*versions)[i] : kUnknownVersion;
  }
  list.unresolved -= std::min(list.unresolved, count);
}

std::optional<std::vector<std::uint64_t>> parse_versions_reply(std::string_view resp,
                                                               std::size_t count) {
  std::uint64_t n = 0;
  if (!resp.starts_with('*')) return std::nullopt;
  resp.remove_prefix(1);
  if (!get_line_number(&resp, &n) || n != count) return std::nullopt;
  std::vector<std::uint64_t> versions(count);
  for (std::uint64_t& v : versions) {
    if (!resp.starts_with(':')) return std::nullopt;
    resp.remove_prefix(1);
    if (!get_line_number(&resp, &v)) return std::nullopt;
  }
  if (!resp.empty()) return std::nullopt;
  return versions;
}

TxnSession::Step TxnSession::reply(Reply r) const {
  Step s;
  s.reply = std::move(r);
  return s;
}

Reply TxnSession::on_error(Reply error) {
  if (in_multi_) dirty_ = true;
  return error;
}

void TxnSession::reset_multi() {
  in_multi_ = false;
  dirty_ = false;
  queue_.clear();
  queue_bytes_ = 0;
}

TxnSession::Step TxnSession::on_request(Request request) {
  switch (request.op) {
    case Op::multi:
      // Not a queued command's error: the transaction goes on (Redis).
      if (in_multi_) return reply(Reply::error("ERR MULTI calls can not be nested"));
      in_multi_ = true;
      return reply(Reply::ok());
    case Op::exec:
      return on_exec();
    case Op::discard:
      if (!in_multi_) return reply(Reply::error("ERR DISCARD without MULTI"));
      reset_multi();
      unwatch();
      return reply(Reply::ok());
    case Op::watch:
      return on_watch(request);
    case Op::unwatch:
      if (!in_multi_) {
        unwatch();
        return reply(Reply::ok());
      }
      break;  // inside MULTI Redis queues it; synod-kv refuses it below
    default:
      break;
  }
  if (!in_multi_) {
    Step s;
    s.kind = Step::Kind::submit;
    s.request = std::move(request);
    return s;
  }
  if (!allowed_in_txn(request.op)) {
    dirty_ = true;
    std::string m = "ERR '";
    m.append(name_of(request.op));
    m.append("' inside MULTI is not supported by synod-kv");
    return reply(Reply::error(std::move(m)));
  }
  std::size_t bytes = encoded_bound(request);
  if (queue_.size() >= limits_.commands_max || queue_bytes_ + bytes > limits_.bytes_max) {
    dirty_ = true;
    Step s = reply(too_large(limits_));
    s.over_limit = true;
    return s;
  }
  queue_bytes_ += bytes;
  queue_.push_back(std::move(request));
  return reply(Reply::simple("QUEUED"));
}

TxnSession::Step TxnSession::on_watch(Request& request) {
  if (in_multi_) return reply(Reply::error("ERR WATCH inside MULTI is not allowed"));
  // A key watched already keeps the version of its first WATCH (Redis).
  Step s;
  s.watch = watch_;
  s.watch_from = watch_->keys.size();
  // The watched keys travel in EXEC's entry, so more than bytes_max of them
  // could never EXEC: refused here, before a client grows the list without
  // bound by WATCHing key after key (nothing of this WATCH is kept).
  std::size_t bytes = watched_bytes_;
  for (const std::string& key : request.args)
    if (!watched_.count(key)) bytes += watched_key_bytes(key);
  if (watch_bound(WatchList{}) + bytes > limits_.bytes_max) {
    Step refused =
        reply(Reply::error("ERR too many watched keys: synod-kv watches at most " +
                           std::to_string(limits_.bytes_max) + " bytes of keys per transaction"));
    refused.over_limit = true;
    return refused;
  }
  for (std::string& key : request.args) {
    if (!watched_.insert(key).second) continue;
    watched_bytes_ += watched_key_bytes(key);
    s.request.args.push_back(key);
    watch_->keys.push_back({std::move(key), kUnknownVersion});
    ++watch_->unresolved;
  }
  if (s.request.args.empty()) return reply(Reply::ok());
  s.kind = Step::Kind::submit;
  s.request.op = Op::watch_versions;
  return s;
}

TxnSession::Step TxnSession::on_exec() {
  if (!in_multi_) return reply(Reply::error("ERR EXEC without MULTI"));
  if (dirty_) {
    reset_multi();
    unwatch();
    return reply(Reply::error("EXECABORT Transaction discarded because of previous errors."));
  }
  if (queue_bytes_ + watch_bound(*watch_) > limits_.bytes_max) {
    reset_multi();
    unwatch();
    Step s = reply(too_large(limits_));
    s.over_limit = true;
    return s;
  }
  Step s;
  s.kind = Step::Kind::submit;
  s.request = make_txn({}, queue_);  // args[0] filled by take_watch_block()
  exec_watches_.push_back(std::move(watch_));
  reset_multi();
  unwatch();  // EXEC unwatches everything, whatever its outcome
  return s;
}

bool TxnSession::exec_ready() const {
  return exec_watches_.empty() || exec_watches_.front()->unresolved == 0;
}

std::string TxnSession::take_watch_block() {
  if (exec_watches_.empty()) return encode_watch_block({});
  std::shared_ptr<WatchList> w = std::move(exec_watches_.front());
  exec_watches_.pop_front();
  return encode_watch_block(w->keys);
}

}  // namespace synod::kv
