#include "cluster_command.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

#include "kv_command.h"

namespace synod::kv {
namespace {

struct Spec {
  std::string_view name;  // lower case, as error messages name it
  ClusterOp op;
  std::size_t words;  // arguments after the subcommand, exactly
  std::string_view usage;
};

constexpr std::array kSpecs{
    Spec{"addnode", ClusterOp::add_voter, 3,
         "ADDNODE <id> <peer-host:port> <client-host:port>\n"
         "    Add a voter. It joins as a learner and is promoted once caught up."},
    Spec{"addlearner", ClusterOp::add_learner, 3,
         "ADDLEARNER <id> <peer-host:port> <client-host:port>\n"
         "    Add a member that receives the log but never votes."},
    Spec{"delnode", ClusterOp::remove, 1,
         "DELNODE <id>\n    Remove a voter or learner (a removed leader hands over)."},
    Spec{"transfer", ClusterOp::transfer, 1, "TRANSFER <id>\n    Hand leadership to a voter."},
    Spec{"nodes", ClusterOp::nodes, 0,
         "NODES\n    The members: id, peer address, client address, flags."},
    Spec{"keyslot", ClusterOp::keyslot, 1,
         "KEYSLOT <key>\n    The hash slot of <key> (CRC16 of the key or its {hash tag})."},
    Spec{"slots", ClusterOp::slots, 0,
         "SLOTS\n    Each shard's slot range and its leader, then its other replicas."},
    Spec{"shards", ClusterOp::shards, 0, "SHARDS\n    Each shard's slots and nodes (Redis 7)."},
    Spec{"info", ClusterOp::info, 0, "INFO\n    cluster_state, slots assigned, nodes, shards."},
    Spec{"myid", ClusterOp::myid, 0, "MYID\n    This node's 40-hex cluster id."},
    Spec{"help", ClusterOp::help, 0, "HELP\n    This text."},
};

Reply error(std::string m) { return Reply::error(std::move(m)); }

Reply wrong_arity(std::string_view sub) {
  std::string m = "ERR wrong number of arguments for 'cluster|";
  m.append(sub);
  m.append("' command");
  return error(std::move(m));
}

bool parse_port(std::string_view text, unsigned* port) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *port);
  return ec == std::errc() && end == text.data() + text.size() && *port >= 1 && *port <= 65535;
}

bool parse_node(std::string_view text, std::uint64_t* id) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *id);
  return ec == std::errc() && end == text.data() + text.size() && *id > 0;
}

}  // namespace

bool address_shape_ok(std::string_view a) {
  std::size_t colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = a.substr(0, colon);
  if (host.find_first_of(" \t\r\n,=") != std::string_view::npos) return false;
  // An IPv6 host needs its brackets, or its own colons would be ambiguous.
  bool bracketed = host.front() == '[' || host.back() == ']';
  if (bracketed && !(host.size() > 2 && host.front() == '[' && host.back() == ']')) return false;
  if (!bracketed && host.find(':') != std::string_view::npos) return false;
  unsigned port = 0;
  return parse_port(a.substr(colon + 1), &port);
}

std::variant<ClusterCommand, Reply> parse_cluster(std::span<const std::string> args) {
  if (args.empty()) return error("ERR wrong number of arguments for 'cluster' command");
  const Spec* spec = nullptr;
  for (const Spec& s : kSpecs)
    if (iequals(s.name, args[0])) spec = &s;
  if (spec == nullptr) {
    std::string m = "ERR unknown subcommand '";
    m.append(std::string_view(args[0]).substr(0, 128));
    m.append("'. Try CLUSTER HELP.");
    return error(std::move(m));
  }
  if (args.size() != spec->words + 1) return wrong_arity(spec->name);
  ClusterCommand c;
  c.op = spec->op;
  if (c.op == ClusterOp::keyslot) {
    c.key = args[1];
    return c;
  }
  if (spec->words >= 1 && !parse_node(args[1], &c.node)) {
    std::string m = "ERR invalid node id '";
    m.append(std::string_view(args[1]).substr(0, 128));
    m.append("': expected a positive integer");
    return error(std::move(m));
  }
  if (spec->words == 3) {
    for (std::size_t k : {2, 3}) {
      const std::string& a = args[k];
      if (address_shape_ok(a)) continue;
      std::string m = "ERR invalid address '";
      m.append(std::string_view(a).substr(0, 128));
      m.append("': expected host:port");
      return error(std::move(m));
    }
    c.peer_address = args[2];
    c.client_address = args[3];
  }
  return c;
}

Reply cluster_help() {
  std::vector<Reply> lines;
  lines.push_back(Reply::simple("CLUSTER <subcommand> [<arg> [value] ...]. Subcommands are:"));
  for (const Spec& s : kSpecs) {
    std::string_view text = s.usage;
    while (!text.empty()) {
      std::size_t nl = text.find('\n');
      lines.push_back(Reply::simple(std::string(text.substr(0, nl))));
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    }
  }
  return Reply::array(std::move(lines));
}

}  // namespace synod::kv
