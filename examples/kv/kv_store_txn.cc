// KvStore's transactions (Op::txn) and the version read WATCH makes
// (Op::watch_versions). docs/kv.md, "Transactions", states the rules.
#include <optional>
#include <vector>

#include "kv_store.h"
#include "txn_codec.h"

namespace synod::kv {

// All of it is checked before anything changes, so a malformed entry leaves
// the state alone on every replica. Then the watch check: any watched key
// whose version moved aborts the whole transaction (Redis's nil reply).
// Then each command in order, its reply (an error too: Redis does not roll
// back a command that failed at run time) in the array.
Reply KvStore::txn(const Request& r) {
  std::vector<WatchedKeyView> watched;
  if (!decode_watch_block(r.args[0], &watched)) return Reply::error("ERR malformed log command");
  std::vector<Request> commands;
  commands.reserve(r.args.size() - 1);
  for (std::size_t i = 1; i < r.args.size(); ++i) {
    std::optional<Request> q = decode(r.args[i]);
    if (!q || !allowed_in_txn(q->op)) return Reply::error("ERR malformed log command");
    commands.push_back(std::move(*q));
  }
  for (const WatchedKeyView& w : watched) {
    if (version_of(w.key) != w.version) return Reply::null_array();
  }
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (Request& q : commands) replies.push_back(execute(std::move(q)));
  return Reply::array(std::move(replies));
}

Reply KvStore::watch_versions(const Request& r) const {
  std::vector<Reply> versions;
  versions.reserve(r.args.size());
  for (const auto& key : r.args) {
    versions.push_back(Reply::integer(static_cast<std::int64_t>(version_of(key))));
  }
  return Reply::array(std::move(versions));
}

}  // namespace synod::kv
