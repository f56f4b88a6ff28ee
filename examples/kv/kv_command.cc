#include "kv_command.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "cluster_command.h"

namespace synod::kv {
namespace {

struct Spec {
  std::string_view name;  // lower case, as Redis names it in errors
  Op op;
  // Redis's convention: n > 0 means exactly n words with the name, n < 0
  // means at least -n.
  int arity;
  // Where the keys are (COMMAND's first key, last key, step; Redis's
  // positions, 0 0 0 for none): cluster clients route by them.
  int first_key = 0;
  int last_key = 0;
  int key_step = 0;
};

constexpr std::array kSpecs{
    Spec{"get", Op::get, 2, 1, 1, 1},
    Spec{"set", Op::set, -3, 1, 1, 1},
    Spec{"del", Op::del, -2, 1, -1, 1},
    Spec{"incr", Op::incr, 2, 1, 1, 1},
    Spec{"exists", Op::exists, -2, 1, -1, 1},
    Spec{"dbsize", Op::dbsize, 1},
    Spec{"incrby", Op::incrby, 3, 1, 1, 1},
    Spec{"decrby", Op::decrby, 3, 1, 1, 1},
    Spec{"decr", Op::decr, 2, 1, 1, 1},
    Spec{"getset", Op::getset, 3, 1, 1, 1},
    Spec{"mset", Op::mset, -3, 1, -1, 2},
    Spec{"mget", Op::mget, -2, 1, -1, 1},
    Spec{"msetnx", Op::msetnx, -3, 1, -1, 2},
    Spec{"multi", Op::multi, 1},
    Spec{"exec", Op::exec, 1},
    Spec{"discard", Op::discard, 1},
    Spec{"watch", Op::watch, -2, 1, -1, 1},
    Spec{"unwatch", Op::unwatch, 1},
    Spec{"ping", Op::ping, -1},
    Spec{"echo", Op::echo, 2},
    Spec{"info", Op::info, -1},
    Spec{"command", Op::command, -1},
    Spec{"config", Op::config_get, -2},
    Spec{"cluster", Op::cluster, -2},
    Spec{"readonly", Op::readonly, 1},
    Spec{"readwrite", Op::readwrite, 1},
    Spec{"asking", Op::asking, 1},
};

// The configuration redis-benchmark asks for before it starts; answering it
// as Redis would keeps the benchmark from printing a warning.
constexpr std::array<std::pair<std::string_view, std::string_view>, 2> kConfig{{
    {"save", ""},
    {"appendonly", "no"},
}};

const Spec* find_spec(std::string_view name) {
  for (const Spec& s : kSpecs) {
    if (iequals(s.name, name)) return &s;
  }
  return nullptr;
}

bool arity_ok(int arity, std::size_t words) {
  if (arity >= 0) return words == static_cast<std::size_t>(arity);
  return words >= static_cast<std::size_t>(-arity);
}

Reply wrong_arity(std::string_view name) {
  std::string m = "ERR wrong number of arguments for '";
  m.append(name);
  m.append("' command");
  return Reply::error(std::move(m));
}

// Redis 7's text, truncations included, so scripts that match it still do.
Reply unknown_command(CommandView command) {
  std::string m = "ERR unknown command '";
  m.append(command[0].substr(0, 128));
  m.append("', with args beginning with: ");
  std::string args;
  for (std::size_t i = 1; i < command.size() && args.size() < 128; ++i) {
    std::size_t room = 128 - args.size();
    args.push_back('\'');
    args.append(command[i].substr(0, room));
    args.append("' ");
  }
  m.append(args);
  return Reply::error(std::move(m));
}

Reply unknown_subcommand(std::string_view sub, std::string_view command) {
  std::string m = "ERR unknown subcommand '";
  m.append(sub.substr(0, 128));
  m.append("'. Try ");
  m.append(command);
  m.append(" HELP.");
  return Reply::error(std::move(m));
}

// SET key value [NX | XX]. Expiry and GET are real Redis options that
// synod-kv lacks; naming them beats a bare "syntax error".
std::variant<RequestRef, Reply> parse_set(RequestRef r) {
  for (std::size_t i = 2; i < r.args.size(); ++i) {
    std::string_view opt = r.args[i];
    if (iequals(opt, "nx") && r.condition != SetCondition::if_present) {
      r.condition = SetCondition::if_absent;
    } else if (iequals(opt, "xx") && r.condition != SetCondition::if_absent) {
      r.condition = SetCondition::if_present;
    } else if (iequals(opt, "ex") || iequals(opt, "px") || iequals(opt, "exat") ||
               iequals(opt, "pxat") || iequals(opt, "keepttl") || iequals(opt, "get")) {
      std::string m = "ERR SET option '";
      m.append(opt);
      m.append("' is not supported by synod-kv");
      return Reply::error(std::move(m));
    } else {
      return Reply::error("ERR syntax error");
    }
  }
  r.args = r.args.first(2);
  return r;
}

std::variant<RequestRef, Reply> parse_command_command(RequestRef r) {
  if (r.args.empty()) return r;
  std::string_view sub = r.args[0];
  if (iequals(sub, "count")) {
    if (r.args.size() != 1) return wrong_arity("command|count");
    return r;
  }
  if (iequals(sub, "docs") || iequals(sub, "info") || iequals(sub, "list")) return r;
  return unknown_subcommand(sub, "COMMAND");
}

std::variant<RequestRef, Reply> parse_config(RequestRef r) {
  if (!iequals(r.args[0], "get")) {
    std::string m = "ERR unsupported CONFIG subcommand '";
    m.append(r.args[0].substr(0, 128));
    m.append("'; synod-kv answers CONFIG GET only");
    return Reply::error(std::move(m));
  }
  if (r.args.size() < 2) return wrong_arity("config|get");
  r.args = r.args.subspan(1);
  return r;
}

}  // namespace

std::string_view name_of(Op op) {
  // Internal: no client name.
  if (op == Op::node_addresses) return "node_addresses";
  if (op == Op::txn) return "txn";
  if (op == Op::watch_versions) return "watch_versions";
  for (const Spec& s : kSpecs) {
    if (s.op == op) return s.name;
  }
  return "?";
}

std::variant<RequestRef, Reply> parse_request(CommandView words) {
  if (words.empty()) return Reply::error("ERR empty command");
  const Spec* spec = find_spec(words[0]);
  if (spec == nullptr) return unknown_command(words);
  if (!arity_ok(spec->arity, words.size())) return wrong_arity(spec->name);
  RequestRef r;
  r.op = spec->op;
  r.args = words.subspan(1);  // the name dropped
  switch (r.op) {
    case Op::set:
      return parse_set(r);
    case Op::ping:
      if (r.args.size() > 1) return wrong_arity("ping");
      return r;
    case Op::mset:
    case Op::msetnx:
      // Pairs only: Redis counts an odd argument as a wrong arity.
      if (r.args.size() % 2 != 0) return wrong_arity(spec->name);
      return r;
    case Op::command:
      return parse_command_command(r);
    case Op::config_get:
      return parse_config(r);
    case Op::cluster: {
      // Rare: the copy parse_cluster reads from costs nothing that matters.
      auto parsed = parse_cluster(std::vector<std::string>(r.args.begin(), r.args.end()));
      if (auto* reply = std::get_if<Reply>(&parsed)) return std::move(*reply);
      return r;
    }
    default:
      return r;
  }
}

RequestViews::RequestViews(const Request& request) : ref_{request.op, {}, request.condition} {
  const std::size_t n = request.args.size();
  if (n <= std::size(small_)) {
    std::copy(request.args.begin(), request.args.end(), small_);
    ref_.args = std::span<const std::string_view>(small_, n);
  } else {
    large_.assign(request.args.begin(), request.args.end());
    ref_.args = large_;
  }
}

std::variant<Request, Reply> parse_request(const Command& command) {
  std::vector<std::string_view> words(command.begin(), command.end());
  auto parsed = parse_request(CommandView(words));
  if (auto* reply = std::get_if<Reply>(&parsed)) return std::move(*reply);
  return std::get<RequestRef>(parsed).own();
}

namespace {

bool wants_section(std::span<const std::string> wanted, std::string_view name) {
  if (wanted.empty()) return true;
  return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) {
    return iequals(w, name) || iequals(w, "all") || iequals(w, "everything") ||
           iequals(w, "default");
  });
}

// Redis's INFO layout: "# Name" then "field:value" lines, sections
// separated by an empty line, CRLF throughout.
Reply answer_info(std::span<const std::string> wanted, std::span<const InfoSection> info) {
  std::string text;
  for (const InfoSection& section : info) {
    if (!wants_section(wanted, section.name)) continue;
    if (!text.empty()) text.append("\r\n");
    text.append("# ").append(section.name).append("\r\n");
    for (const auto& [field, value] : section.fields) {
      text.append(field).append(":").append(value).append("\r\n");
    }
  }
  return Reply::bulk(std::move(text));
}

// Clients send COMMAND to learn about the server (redis-cli: COMMAND DOCS
// for its hints). An empty answer makes them fall back to their defaults.
// COMMAND alone: Redis's table (name, arity, flags, first key, last key,
// step, ACL categories), which cluster clients (python3-redis's
// RedisCluster) read to find the keys they route by.
Reply answer_command(std::span<const std::string> args) {
  if (!args.empty() && iequals(args[0], "count")) {
    return Reply::integer(static_cast<std::int64_t>(kSpecs.size()));
  }
  if (!args.empty()) return Reply::array({});
  std::vector<Reply> table;
  for (const Spec& s : kSpecs) {
    Route r = route_of(s.op);
    std::string flag = r == Route::write ? "write" : r == Route::read ? "readonly" : "fast";
    table.push_back(
        Reply::array({Reply::bulk(std::string(s.name)), Reply::integer(s.arity),
                      Reply::array({Reply::simple(std::move(flag))}), Reply::integer(s.first_key),
                      Reply::integer(s.last_key), Reply::integer(s.key_step), Reply::array({})}));
  }
  return Reply::array(std::move(table));
}

Reply answer_config_get(std::span<const std::string> params) {
  std::vector<Reply> items;
  for (const auto& [name, value] : kConfig) {
    // A copy of the binding: clang before 16 refuses a lambda naming one.
    const auto key = name;
    bool asked = std::any_of(params.begin(), params.end(),
                             [&](const std::string& p) { return iequals(p, key); });
    if (!asked) continue;
    items.push_back(Reply::bulk(std::string(name)));
    items.push_back(Reply::bulk(std::string(value)));
  }
  return Reply::array(std::move(items));
}

}  // namespace

Reply answer_local(const Request& request, std::span<const InfoSection> info) {
  switch (request.op) {
    case Op::ping:
      if (request.args.empty()) return Reply::simple("PONG");
      return Reply::bulk(request.args[0]);
    case Op::echo:
      return Reply::bulk(request.args[0]);
    case Op::info:
      return answer_info(request.args, info);
    case Op::command:
      return answer_command(request.args);
    case Op::config_get:
      return answer_config_get(request.args);
    case Op::readonly:
    case Op::readwrite:
    case Op::asking:
      return Reply::ok();
    default:
      break;
  }
  // A replicated request here would be answered without consensus, which
  // breaks linearizability; stop rather than answer wrongly.
  std::fprintf(stderr, "synod-kv: answer_local called for '%.*s'\n",
               static_cast<int>(name_of(request.op).size()), name_of(request.op).data());
  std::abort();
}

namespace {
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace synod::kv
