// Client commands of synod-kv: which Redis commands exist, how an argument
// vector becomes a validated Request, where each must run, and the answers
// to the commands any node gives without consensus. No I/O.
//
// Errors copy Redis's wording where Redis has the same case, so clients and
// people see familiar text ("ERR wrong number of arguments for 'get'
// command"); features Redis has and synod-kv lacks say so plainly.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "resp_parser.h"
#include "resp_reply.h"

namespace synod::kv {

// Invariant: the values of the replicated operations (get .. dbsize) are the
// first byte of their log encoding (kv_command_codec.h). Logs outlive
// binaries, so these are never renumbered or reused.
enum class Op : std::uint8_t {
  get = 1,     // GET key
  set = 2,     // SET key value [NX | XX]
  del = 3,     // DEL key [key ...]
  incr = 4,    // INCR key
  exists = 5,  // EXISTS key [key ...]
  dbsize = 6,  // DBSIZE
  // Internal, never a client's command: CLUSTER ADDNODE and ADDLEARNER log
  // the members' addresses with it before the membership change, so every
  // replica (and every snapshot) knows where members are.
  // args: {id, peer address, client address} once per member, ids decimal.
  node_addresses = 7,
  incrby = 8,   // INCRBY key increment (checked at apply, as Redis does)
  decrby = 9,   // DECRBY key decrement
  decr = 10,    // DECR key
  getset = 11,  // GETSET key value
  mset = 12,    // MSET key value [key value ...]
  mget = 13,    // MGET key [key ...]
  msetnx = 14,  // MSETNX key value [key value ...]
  // Internal: the EXEC of a MULTI block, one log entry (txn_codec.h). args:
  // {watch block, then each queued command's own encoding}.
  txn = 15,
  // Internal read, never logged: WATCH asks the versions of its keys
  // (KvStore::version_of) by ReadIndex. args: {key, ...}.
  watch_versions = 16,
  // Local operations: answered by the node that got them, never logged.
  ping = 64,        // PING [message]
  echo = 65,        // ECHO message
  info = 66,        // INFO [section ...]
  command = 67,     // COMMAND [subcommand [arg ...]], for client handshakes
  config_get = 68,  // CONFIG GET parameter [parameter ...]
  // Membership: run by the node with its replica (cluster_command.h).
  cluster = 69,  // CLUSTER subcommand [arg ...]
  // Transactions: the connection's state (txn_session.h), never the node's.
  multi = 70,    // MULTI
  exec = 71,     // EXEC
  discard = 72,  // DISCARD
  watch = 73,    // WATCH key [key ...]
  unwatch = 74,  // UNWATCH
  // Redis Cluster's connection flags, answered OK by any node: synod-kv
  // serves every read from the shard's leader (linearizable), so READONLY
  // changes nothing, and ASKING has no slot migration to qualify.
  readonly = 75,   // READONLY
  readwrite = 76,  // READWRITE
  asking = 77,     // ASKING
};

enum class Route : std::uint8_t {
  write,  // changes the state: ordered through consensus
  read,   // must be linearizable: for now also ordered through consensus
  local,  // any node answers at once
  // CLUSTER: membership changes go to the leader (through the log, but not
  // as a client write), CLUSTER NODES and HELP any node answers.
  cluster,
  // MULTI, EXEC, DISCARD, WATCH, UNWATCH: the connection's transaction
  // state (txn_session.h) handles them; EXEC and WATCH then send the node
  // an internal txn write or watch_versions read.
  session,
};

enum class SetCondition : std::uint8_t {
  always = 0,      // plain SET
  if_absent = 1,   // NX
  if_present = 2,  // XX
};

struct Request {
  Op op = Op::ping;
  // The arguments after the command name, validated for `op`:
  //   get, incr, decr: {key}      set, getset: {key, value}
  //   incrby, decrby: {key, integer text}  mget, del, exists: {key, ...}
  //   mset, msetnx: {key, value} * n, n >= 1
  //   txn: {watch block, encoded command, ...} (txn_codec.h)
  //   watch_versions, watch: {key, ...}  multi, exec, discard, unwatch: {}
  //   dbsize: {}            ping: {} or {message} echo: {message}
  //   info: {section, ...}  command: {subcommand, ...} or {}
  //   config_get: {parameter, ...}
  //   cluster: {subcommand, ...}, valid for parse_cluster (cluster_command.h)
  //   node_addresses: {id, peer address, client address} * n, n >= 1
  std::vector<std::string> args;
  SetCondition condition = SetCondition::always;  // set only
  friend bool operator==(const Request&, const Request&) = default;
};

// A validated request whose arguments are views (into a client's read
// buffer, or into a Request held for later), valid while those bytes are:
// what the node encodes for the log and proposes with no copy of the
// arguments in between. own() copies it into a Request, for what outlives
// the read (a held request, a MULTI queue, a read's callback).
struct RequestRef {
  Op op = Op::ping;
  std::span<const std::string_view> args;  // as Request::args
  SetCondition condition = SetCondition::always;
  Request own() const {
    return Request{op, std::vector<std::string>(args.begin(), args.end()), condition};
  }
};

// A Request seen as a RequestRef: views of its arguments, on the stack up to
// eight. Valid while the Request is unchanged; not copyable (ref() points
// into it).
class RequestViews {
 public:
  explicit RequestViews(const Request& request);
  RequestViews(const RequestViews&) = delete;
  RequestViews& operator=(const RequestViews&) = delete;
  const RequestRef& ref() const { return ref_; }

 private:
  std::string_view small_[8];
  std::vector<std::string_view> large_;
  RequestRef ref_;
};

// Inline: asked several times per command on the RESP server's path.
inline Route route_of(Op op) {
  switch (op) {
    case Op::set:
    case Op::del:
    case Op::incr:
    case Op::incrby:
    case Op::decrby:
    case Op::decr:
    case Op::getset:
    case Op::mset:
    case Op::msetnx:
    case Op::txn:
      return Route::write;
    case Op::get:
    case Op::exists:
    case Op::dbsize:
    case Op::mget:
    case Op::watch_versions:
      return Route::read;
    case Op::multi:
    case Op::exec:
    case Op::discard:
    case Op::watch:
    case Op::unwatch:
      return Route::session;
    case Op::node_addresses:
      return Route::write;
    case Op::cluster:
      return Route::cluster;
    case Op::ping:
    case Op::echo:
    case Op::info:
    case Op::command:
    case Op::config_get:
    case Op::readonly:
    case Op::readwrite:
    case Op::asking:
      return Route::local;
  }
  return Route::local;  // unreachable for valid enumerators
}

// Redis matches command names and options without regard to ASCII case.
bool iequals(std::string_view a, std::string_view b);

// The lower-case Redis name, as used in error messages.
std::string_view name_of(Op op);

// Validates a client command (name matched without regard to case). Returns
// the request, its arguments a part of `words`, or the error reply to send
// instead (unknown command, wrong arity, bad option); nothing is logged for
// an error.
std::variant<RequestRef, Reply> parse_request(CommandView words);
// The same, owning its arguments.
std::variant<Request, Reply> parse_request(const Command& command);

// One section of INFO output, e.g. {"Server", {{"redis_version", "7.0.0"}}}.
// The server supplies these; INFO picks sections by name.
struct InfoSection {
  std::string name;
  std::vector<std::pair<std::string, std::string>> fields;
};

// Answers a local request. Precondition: route_of(request.op) == local.
// `info` is the node's INFO content; other requests ignore it.
Reply answer_local(const Request& request, std::span<const InfoSection> info);

}  // namespace synod::kv
