// One connection's MULTI / EXEC / DISCARD / WATCH / UNWATCH state, with
// Redis's replies. Pure: the RESP server feeds it each parsed command and
// does what the returned Step says (reply at once, or submit a request to
// the node). docs/kv.md, "Transactions", states the rules.
//
// EXEC becomes one Op::txn request: the queued commands and the watched
// keys with the versions their WATCH read (KvStore::version_of); the store
// applies it all at once, or answers nil when a watched key's version moved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "kv_command.h"
#include "resp_reply.h"
#include "txn_codec.h"

namespace synod::kv {

// What one connection may queue between MULTI and EXEC; past either bound
// the command is refused (and EXEC then answers EXECABORT), and counted.
struct TxnLimits {
  std::size_t commands_max = 10000;
  // Also the bound on EXEC's whole log entry, watched keys included: the
  // log takes no longer command (ClientLimits::command_bytes_max).
  std::size_t bytes_max = 1u << 20;
};

// The keys one WATCH epoch (WATCH .. EXEC, DISCARD or UNWATCH) watches.
// The server resolves the versions when the WATCH's read comes back.
struct WatchList {
  std::vector<WatchedKey> keys;
  std::size_t unresolved = 0;  // keys whose version read has not come back
};

// Fills keys[from .. from + versions.size()) with the versions read, or with
// kUnknownVersion when the read failed (nullopt), so that EXEC aborts.
void resolve_watch(WatchList& list, std::size_t from, std::size_t count,
                   const std::optional<std::vector<std::uint64_t>>& versions);

// The versions in a watch_versions reply (a RESP array of non-negative
// integers, `count` of them), or nullopt for anything else (an error such
// as -MOVED).
std::optional<std::vector<std::uint64_t>> parse_versions_reply(std::string_view resp,
                                                               std::size_t count);

class TxnSession {
 public:
  explicit TxnSession(TxnLimits limits) : limits_(limits) {}

  struct Step {
    enum class Kind : std::uint8_t {
      reply,   // send `reply` now
      submit,  // hand `request` to the node; its reply is the client's
    };
    Kind kind = Kind::reply;
    Reply reply;
    Request request;
    // submit of watch_versions: where the versions go (resolve_watch), and
    // the reply to give once they are read.
    std::shared_ptr<WatchList> watch;
    std::size_t watch_from = 0;
    bool over_limit = false;  // a queue bound refused this command
  };

  // A command that parsed.
  Step on_request(Request request);
  // A command that did not (unknown, wrong arity): inside MULTI it also
  // flags the transaction, as Redis does. Returns the error to send.
  Reply on_error(Reply error);

  bool in_multi() const { return in_multi_; }
  std::size_t queued() const { return queue_.size(); }

  // For the server: an Op::txn request from on_request is submitted only
  // once its WATCH reads are back (exec_ready()), then take_watch_block()
  // gives the watch block to put in its args[0]. EXECs are taken in order.
  bool exec_ready() const;
  std::string take_watch_block();

 private:
  Step reply(Reply r) const;
  Step on_watch(Request& request);
  Step on_exec();
  void reset_multi();
  void unwatch() {
    watch_ = std::make_shared<WatchList>();
    watched_.clear();
    watched_bytes_ = 0;
  }

  TxnLimits limits_;
  bool in_multi_ = false;
  bool dirty_ = false;  // a queued command was refused: EXEC answers EXECABORT
  std::vector<Request> queue_;
  std::size_t queue_bytes_ = 0;
  std::shared_ptr<WatchList> watch_ = std::make_shared<WatchList>();
  // watch_'s keys, to find one watched already in constant time, and their
  // share of EXEC's entry (watch_bound's, kept as keys are added).
  std::unordered_set<std::string> watched_;
  std::size_t watched_bytes_ = 0;
  // The watch lists of EXECs handed out and not yet submitted, in order.
  std::deque<std::shared_ptr<WatchList>> exec_watches_;
};

}  // namespace synod::kv
