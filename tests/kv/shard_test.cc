// Sharded synod-kv's pure pieces: which shard a command runs in
// (shard_router.h) and Redis Cluster's views of the shards (cluster_view.h).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <variant>
#include <vector>

#include "cluster_command.h"
#include "cluster_view.h"
#include "kv_command.h"
#include "shard_router.h"
#include "txn_codec.h"

using namespace synod;
using namespace synod::kv;

namespace {

Request req(Command c) { return std::get<Request>(parse_request(std::move(c))); }

// Keys of foo (slot 12182) and bar (slot 5061): shards 3 and 2 of 4
// (ranges 0-4095, 4096-8191, 8192-12287, 12288-16383, 0-based 2 and 1).
const SlotMap kFour(4);

ClusterView three_nodes_four_shards() {
  ClusterView v;
  v.self = NodeId{2};
  for (std::uint64_t id = 1; id <= 3; ++id)
    v.nodes[id] = NodeAddresses{fmt::format("127.0.0.1:{}", 7000 + id),
                                fmt::format("127.0.0.1:{}", 17000 + id)};
  for (std::size_t s = 0; s < 4; ++s)
    v.shards.push_back(
        ShardView{kFour.ranges()[s], NodeId{s % 3 + 1}, {NodeId{1}, NodeId{2}, NodeId{3}}});
  return v;
}

}  // namespace

TEST_CASE("keys_of: every key of each command, MSET's keys and not its values") {
  // The keys are views into the request: it must outlive them.
  std::vector<std::string_view> keys;
  Request set = req({"SET", "a", "v"});
  REQUIRE(keys_of(set, &keys));
  CHECK(keys == std::vector<std::string_view>{"a"});
  Request mset = req({"MSET", "a", "1", "b", "2"});
  REQUIRE(keys_of(mset, &keys));
  CHECK(keys == std::vector<std::string_view>{"a", "b"});
  Request del = req({"DEL", "a", "b", "c"});
  REQUIRE(keys_of(del, &keys));
  CHECK(keys.size() == 3);
  Request dbsize = req({"DBSIZE"});
  REQUIRE(keys_of(dbsize, &keys));
  CHECK(keys.empty());
}

TEST_CASE("keys_of a txn: the watched keys, then each queued command's keys") {
  std::vector<WatchedKey> watched{{"w", 3}};
  std::vector<Request> queued{req({"INCRBY", "x", "5"}), req({"MSETNX", "y", "1", "z", "2"})};
  Request txn = make_txn(watched, queued);
  std::vector<std::string_view> keys;
  REQUIRE(keys_of(txn, &keys));
  CHECK(keys == std::vector<std::string_view>{"w", "x", "y", "z"});
  Request broken = txn;
  broken.args[1].assign(1, '\xff');  // an unknown op tag
  CHECK_FALSE(keys_of(broken, &keys));
}

TEST_CASE("route_request: the first key's slot and shard; several shards are cross-shard") {
  ShardRoute r;
  REQUIRE(route_request(req({"GET", "foo"}), kFour, &r));
  CHECK(r.has_keys);
  CHECK(r.slot == 12182);
  CHECK(r.shard == 2);
  CHECK_FALSE(r.cross_shard);
  REQUIRE(route_request(req({"MSET", "{foo}a", "1", "{foo}b", "2"}), kFour, &r));
  CHECK_FALSE(r.cross_shard);  // one hash tag: one slot
  REQUIRE(route_request(req({"MGET", "bar", "foo", "bar"}), kFour, &r));
  CHECK(r.cross_shard);
  CHECK(r.shard == 1);
  CHECK(r.shards == std::vector<std::size_t>{1, 2});
  REQUIRE(route_request(req({"DBSIZE"}), kFour, &r));
  CHECK_FALSE(r.has_keys);
  REQUIRE(route_request(req({"GET", "foo"}), SlotMap(1), &r));
  CHECK(r.shard == 0);
}

TEST_CASE("node names are 40 hex characters derived from the node id") {
  CHECK(cluster_node_name(NodeId{3}) == std::string(39, '0') + "3");
  CHECK(cluster_node_name(NodeId{255}) == std::string(38, '0') + "ff");
}

TEST_CASE("CLUSTER SLOTS: per shard its range and its leader, no other replica") {
  ClusterView v = three_nodes_four_shards();
  Reply slots = cluster_slots(v);
  REQUIRE(slots.elements.size() == 4);
  const Reply& second = slots.elements[1];
  // Node 1, 3 and 2 lead other shards: listing them as replicas here would
  // make a client that keeps one role per node (python3-redis) take a
  // master for a replica.
  REQUIRE(second.elements.size() == 3);
  CHECK(second.elements[0] == Reply::integer(4096));
  CHECK(second.elements[1] == Reply::integer(8191));
  CHECK(second.elements[2] == Reply::array({Reply::bulk("127.0.0.1"), Reply::integer(7002),
                                            Reply::bulk(cluster_node_name(NodeId{2}))}));
  // Electing: shown under the first led shard's leader (node 1), whose
  // shards now list node 2, which leads nothing, as a replica. Listing all
  // replicas, leaders of other shards included, made python3-redis take
  // node 2 and 3 for replicas for good.
  v.shards[1].leader = NodeId{};
  slots = cluster_slots(v);
  for (std::size_t s : {0, 1, 3}) {
    REQUIRE(slots.elements[s].elements.size() == 4);
    CHECK(slots.elements[s].elements[2].elements[1] == Reply::integer(7001));
    CHECK(slots.elements[s].elements[3].elements[1] == Reply::integer(7002));
  }
  CHECK(slots.elements[2].elements.size() == 3);
  // No shard led anywhere: every replica in id order, so clients still get
  // a node to ask (it answers -TRYAGAIN).
  for (ShardView& s : v.shards) s.leader = NodeId{};
  slots = cluster_slots(v);
  REQUIRE(slots.elements[1].elements.size() == 5);
  CHECK(slots.elements[1].elements[2].elements[1] == Reply::integer(7001));
}

TEST_CASE("CLUSTER SLOTS: a node that leads nothing is a replica of the first leader's shards") {
  ClusterView v = three_nodes_four_shards();
  v.shards[2].leader = NodeId{1};  // node 3 leads nothing
  Reply slots = cluster_slots(v);
  for (std::size_t s : {0, 2, 3}) {  // node 1's shards
    REQUIRE(slots.elements[s].elements.size() == 4);
    CHECK(slots.elements[s].elements[2].elements[1] == Reply::integer(7001));
    CHECK(slots.elements[s].elements[3].elements[1] == Reply::integer(7003));
  }
  CHECK(slots.elements[1].elements.size() == 3);  // node 2's: the leader only
  // Every node is listed with one role only: leaders as masters, node 3 as
  // a replica.
  for (const Reply& entry : slots.elements)
    for (std::size_t i = 3; i < entry.elements.size(); ++i)
      CHECK(entry.elements[i].elements[1] == Reply::integer(7003));
}

TEST_CASE("CLUSTER SHARDS: one entry per master with all the ranges it leads") {
  ClusterView v = three_nodes_four_shards();
  Reply shards = cluster_shards(v);
  REQUIRE(shards.elements.size() == 3);
  const Reply& s = shards.elements[0];
  CHECK(s.elements[0] == Reply::bulk("slots"));
  CHECK(s.elements[1] == Reply::array({Reply::integer(0), Reply::integer(4095),
                                       Reply::integer(12288), Reply::integer(16383)}));
  const Reply& nodes = s.elements[3];
  REQUIRE(nodes.elements.size() == 1);
  CHECK(nodes.elements[0].elements[1] == Reply::bulk(cluster_node_name(NodeId{1})));
  CHECK(nodes.elements[0].elements[9] == Reply::bulk("master"));
  CHECK(shards.elements[1].elements[1] ==
        Reply::array({Reply::integer(4096), Reply::integer(8191)}));
  // Node 1 leading shards 0, 2 and 3 and shard 1 electing: one master,
  // shown with every range, nodes 2 and 3 its replicas; no node is a
  // master in one entry and a replica in another.
  v.shards[2].leader = NodeId{1};
  v.shards[1].leader = NodeId{};
  shards = cluster_shards(v);
  REQUIRE(shards.elements.size() == 1);
  CHECK(shards.elements[0].elements[1] ==
        Reply::array({Reply::integer(0), Reply::integer(4095), Reply::integer(4096),
                      Reply::integer(8191), Reply::integer(8192), Reply::integer(12287),
                      Reply::integer(12288), Reply::integer(16383)}));
  const Reply& first = shards.elements[0].elements[3];
  REQUIRE(first.elements.size() == 3);
  CHECK(first.elements[0].elements[9] == Reply::bulk("master"));
  CHECK(first.elements[1].elements[1] == Reply::bulk(cluster_node_name(NodeId{2})));
  CHECK(first.elements[1].elements[9] == Reply::bulk("replica"));
  CHECK(first.elements[2].elements[1] == Reply::bulk(cluster_node_name(NodeId{3})));
  CHECK(first.elements[2].elements[9] == Reply::bulk("replica"));
  // No shard led anywhere: one entry per shard, its replicas in id order.
  for (ShardView& s : v.shards) s.leader = NodeId{};
  shards = cluster_shards(v);
  REQUIRE(shards.elements.size() == 4);
  CHECK(shards.elements[1].elements[3].elements.size() == 3);
}

TEST_CASE("CLUSTER NODES: leaders are masters with their slots, myself flagged, bus port") {
  std::string text = cluster_nodes(three_nodes_four_shards());
  std::string one = cluster_node_name(NodeId{1});
  CHECK(text.find(one + " 127.0.0.1:7001@17001 master - 0 0 1 connected 0-4095 12288-16383\n") !=
        std::string::npos);
  CHECK(text.find(cluster_node_name(NodeId{2}) +
                  " 127.0.0.1:7002@17002 myself,master - 0 0 1 connected 4096-8191\n") !=
        std::string::npos);
  // A node that leads nothing is a replica of the first led shard's leader.
  ClusterView v = three_nodes_four_shards();
  v.shards[2].leader = NodeId{1};
  CHECK(cluster_nodes(v).find(cluster_node_name(NodeId{3}) + " 127.0.0.1:7003@17003 slave " + one +
                              " 0 0 1 connected\n") != std::string::npos);
  // The first shard electing: of the next shard's leader, as SLOTS lists
  // it. The electing shard is shown under a leader that is not this node
  // (node 2 could only answer -TRYAGAIN; node 1 answers -MOVED once it
  // knows), and under node 2 when node 1 asks.
  v.shards[0].leader = NodeId{};
  CHECK(cluster_nodes(v).find(cluster_node_name(NodeId{3}) + " 127.0.0.1:7003@17003 slave " +
                              cluster_node_name(NodeId{2}) + " 0 0 1 connected\n") !=
        std::string::npos);
  CHECK(cluster_nodes(v).find(" connected 0-4095 8192-12287 12288-16383\n") != std::string::npos);
  v.self = NodeId{1};
  CHECK(cluster_nodes(v).find(" connected 0-4095 4096-8191\n") != std::string::npos);
  REQUIRE(cluster_slots(v).elements[1].elements.size() == 4);
  CHECK(cluster_slots(v).elements[1].elements[3].elements[1] == Reply::integer(7003));
}

TEST_CASE("CLUSTER INFO: ok with every shard led, fail and the unserved slots otherwise") {
  ClusterView v = three_nodes_four_shards();
  std::string ok = cluster_info(v);
  CHECK(ok.starts_with("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n"));
  CHECK(ok.find("cluster_known_nodes:3\r\ncluster_size:3\r\n") != std::string::npos);
  v.shards[0].leader = NodeId{};
  std::string fail = cluster_info(v);
  CHECK(fail.starts_with("cluster_state:fail\r\n"));
  CHECK(fail.find("cluster_slots_ok:12288\r\n") != std::string::npos);
  CHECK(fail.find("cluster_slots_fail:4096\r\n") != std::string::npos);
}

TEST_CASE("CLUSTER SLOTS, SHARDS, INFO, MYID parse; READONLY, READWRITE, ASKING answer OK") {
  for (const char* sub : {"SLOTS", "shards", "Info", "MYID"}) {
    std::vector<std::string> args{sub};
    CHECK(std::holds_alternative<ClusterCommand>(parse_cluster(args)));
    args.push_back("extra");
    CHECK(std::holds_alternative<Reply>(parse_cluster(args)));
  }
  for (const char* word : {"READONLY", "readwrite", "ASKING"}) {
    Request r = req({word});
    CHECK(route_of(r.op) == Route::local);
    CHECK(answer_local(r, {}) == Reply::ok());
  }
}
