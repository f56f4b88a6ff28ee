// CLUSTER: synod-kv's membership commands, sent by operators with redis-cli.
// How the words after CLUSTER become a validated ClusterCommand, and the
// HELP text. No I/O: the node (cluster_admin.h) runs them.
//
//   CLUSTER ADDNODE <id> <peer-host:port> <client-host:port>   a new voter
//   CLUSTER ADDLEARNER <id> <peer-host:port> <client-host:port>  a learner
//   CLUSTER DELNODE <id>                                       remove a member
//   CLUSTER TRANSFER <id>                                      hand leadership over
//   CLUSTER NODES                                              members, addresses
//   CLUSTER KEYSLOT <key>                                      the key's hash slot
//   CLUSTER SLOTS | SHARDS | INFO | MYID                       with --shards > 1
//   CLUSTER HELP
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "resp_reply.h"

namespace synod::kv {

enum class ClusterOp : std::uint8_t {
  nodes,
  add_voter,
  add_learner,
  remove,
  transfer,
  help,
  keyslot,  // answered from the key alone (hash_slot.h)
  // Redis Cluster's views of a sharded node (--shards > 1, cluster_view.h):
  slots,
  shards,
  info,
  myid,
};

struct ClusterCommand {
  ClusterOp op = ClusterOp::nodes;
  // The member the command is about (not for nodes and help): positive.
  std::uint64_t node = 0;
  // add_voter, add_learner: where peers reach the new member (its --peers
  // entry) and where Redis clients do (its --listen). Both host:port.
  std::string peer_address;
  std::string client_address;
  std::string key;  // keyslot
  friend bool operator==(const ClusterCommand&, const ClusterCommand&) = default;
};

// Validates the arguments after the word CLUSTER (subcommand matched without
// regard to case). Returns the command, or the error reply to send: unknown
// subcommand, wrong arity, a node id that is not a positive integer, an
// address that is not host:port with a port in [1, 65535].
std::variant<ClusterCommand, Reply> parse_cluster(std::span<const std::string> args);

// CLUSTER HELP: one line per subcommand, as Redis's HELP replies are laid out.
Reply cluster_help();

// True for "host:port" and "[v6]:port" shapes: a non-empty host without
// spaces, commas or '=' (CLUSTER NODES and INFO list addresses between
// those), and a decimal port in [1, 65535]. Whether the host is a literal
// IP the transport can dial is the node's check.
bool address_shape_ok(std::string_view address);

}  // namespace synod::kv
