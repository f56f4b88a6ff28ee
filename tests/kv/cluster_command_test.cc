// CLUSTER: parsing of the membership commands and their error replies.
#include "cluster_command.h"

#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "kv_command.h"

using namespace synod::kv;

namespace {

ClusterCommand command(std::vector<std::string> args) {
  auto r = parse_cluster(args);
  REQUIRE(std::holds_alternative<ClusterCommand>(r));
  return std::get<ClusterCommand>(r);
}

std::string error(std::vector<std::string> args) {
  auto r = parse_cluster(args);
  REQUIRE(std::holds_alternative<Reply>(r));
  CHECK(std::get<Reply>(r).is_error());
  return std::get<Reply>(r).str;
}

}  // namespace

TEST_CASE("CLUSTER ADDNODE and ADDLEARNER take an id, a peer address and a client address") {
  ClusterCommand c = command({"ADDNODE", "4", "127.0.0.1:7104", "127.0.0.1:6404"});
  CHECK(c.op == ClusterOp::add_voter);
  CHECK(c.node == 4);
  CHECK(c.peer_address == "127.0.0.1:7104");
  CHECK(c.client_address == "127.0.0.1:6404");
  c = command({"addlearner", "17", "[::1]:7117", "db-17.example:6417"});
  CHECK(c.op == ClusterOp::add_learner);
  CHECK(c.node == 17);
  CHECK(c.peer_address == "[::1]:7117");
  CHECK(c.client_address == "db-17.example:6417");
}

TEST_CASE("CLUSTER DELNODE, TRANSFER, NODES and HELP match without regard to case") {
  CHECK(command({"DelNode", "2"}) == ClusterCommand{ClusterOp::remove, 2, {}, {}, {}});
  CHECK(command({"TRANSFER", "3"}) == ClusterCommand{ClusterOp::transfer, 3, {}, {}, {}});
  CHECK(command({"nodes"}).op == ClusterOp::nodes);
  CHECK(command({"Help"}).op == ClusterOp::help);
}

TEST_CASE("CLUSTER with a wrong number of words names the subcommand as Redis does") {
  CHECK(error({}) == "ERR wrong number of arguments for 'cluster' command");
  CHECK(error({"ADDNODE", "4", "127.0.0.1:7104"}) ==
        "ERR wrong number of arguments for 'cluster|addnode' command");
  CHECK(error({"addlearner", "4"}) ==
        "ERR wrong number of arguments for 'cluster|addlearner' command");
  CHECK(error({"DELNODE"}) == "ERR wrong number of arguments for 'cluster|delnode' command");
  CHECK(error({"DELNODE", "1", "2"}) ==
        "ERR wrong number of arguments for 'cluster|delnode' command");
  CHECK(error({"TRANSFER"}) == "ERR wrong number of arguments for 'cluster|transfer' command");
  CHECK(error({"NODES", "x"}) == "ERR wrong number of arguments for 'cluster|nodes' command");
}

TEST_CASE("CLUSTER refuses unknown subcommands, bad node ids and bad addresses") {
  CHECK(error({"MEET", "127.0.0.1", "7000"}) == "ERR unknown subcommand 'MEET'. Try CLUSTER HELP.");
  for (const char* id : {"0", "-1", "x", "4x", "", "18446744073709551616"}) {
    INFO(id);
    CHECK(error({"DELNODE", id}) ==
          std::string("ERR invalid node id '") + id + "': expected a positive integer");
  }
  CHECK(error({"TRANSFER", "abc"}) == "ERR invalid node id 'abc': expected a positive integer");
  CHECK(error({"ADDNODE", "0", "127.0.0.1:1", "127.0.0.1:2"}).starts_with("ERR invalid node id"));
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":7000", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:x", "a b:1", "a,b:1", "a=b:1", "::1:7000"}) {
    INFO(bad);
    CHECK(error({"ADDNODE", "4", bad, "127.0.0.1:6404"}) ==
          std::string("ERR invalid address '") + bad + "': expected host:port");
    CHECK(error({"ADDLEARNER", "4", "127.0.0.1:7104", bad}) ==
          std::string("ERR invalid address '") + bad + "': expected host:port");
  }
}

TEST_CASE("address shapes: host:port or [IPv6]:port, port 1 to 65535") {
  CHECK(address_shape_ok("127.0.0.1:1"));
  CHECK(address_shape_ok("10.0.0.7:65535"));
  CHECK(address_shape_ok("[fe80::1]:7000"));
  CHECK(address_shape_ok("node-4:6379"));
  CHECK_FALSE(address_shape_ok("[]:7000"));
  CHECK_FALSE(address_shape_ok("fe80::1:7000"));
  CHECK_FALSE(address_shape_ok("host:+80"));
}

TEST_CASE("CLUSTER HELP lists every subcommand, one line each plus its description") {
  Reply help = cluster_help();
  REQUIRE(help.kind == Reply::Kind::array);
  std::string all;
  for (const Reply& line : help.elements) {
    CHECK(line.kind == Reply::Kind::simple);
    CHECK(line.str.find('\n') == std::string::npos);
    all += line.str + "|";
  }
  for (const char* sub :
       {"ADDNODE <id>", "ADDLEARNER <id>", "DELNODE <id>", "TRANSFER <id>", "NODES", "HELP"}) {
    INFO(sub);
    CHECK(all.find(sub) != std::string::npos);
  }
}

TEST_CASE("CLUSTER goes to the node's membership handling, checked by parse_request") {
  auto ok = parse_request({"cluster", "nodes"});
  REQUIRE(std::holds_alternative<Request>(ok));
  CHECK(std::get<Request>(ok).op == Op::cluster);
  CHECK(route_of(Op::cluster) == Route::cluster);
  CHECK(std::get<Request>(ok).args == std::vector<std::string>{"nodes"});
  auto bad = parse_request({"CLUSTER", "DELNODE", "zero"});
  REQUIRE(std::holds_alternative<Reply>(bad));
  CHECK(std::get<Reply>(bad).str == "ERR invalid node id 'zero': expected a positive integer");
  auto bare = parse_request({"CLUSTER"});
  REQUIRE(std::holds_alternative<Reply>(bare));
  CHECK(std::get<Reply>(bare).str == "ERR wrong number of arguments for 'cluster' command");
}

TEST_CASE("no client command reaches the internal member-address op") {
  for (const char* name : {"node_addresses", "NODE_ADDRESSES", "nodeaddresses"}) {
    auto r = parse_request({name, "4", "127.0.0.1:7104", "127.0.0.1:6404"});
    CHECK(std::holds_alternative<Reply>(r));
  }
}
