// Member addresses: the kv-internal log command CLUSTER ADDNODE writes, kept
// apart from the key space and carried by snapshots; and the address book
// that prefers them to the command line.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "address_book.h"
#include "kv_command.h"
#include "kv_command_codec.h"
#include "kv_store.h"
#include "server_options.h"

using namespace synod::kv;
using synod::Membership;
using synod::NodeId;

namespace {

std::string addresses(std::vector<std::string> args) {
  Request r;
  r.op = Op::node_addresses;
  r.args = std::move(args);
  return encode(r);
}

// The command line `synod-kv WORDS...`; *why says what a refusal refused.
std::optional<ServerOptions> parse(std::vector<std::string> words, std::string* why) {
  std::vector<char*> argv{const_cast<char*>("synod-kv")};
  for (std::string& w : words) argv.push_back(w.data());
  return parse_server_options(static_cast<int>(argv.size()), argv.data(), why);
}

ServerOptions options_of(std::vector<std::string> words) {
  std::string why;
  auto o = parse(std::move(words), &why);
  INFO(why);
  REQUIRE(o.has_value());
  return *o;
}

}  // namespace

TEST_CASE("member addresses round-trip through the log encoding in triples") {
  std::string bytes = addresses({"4", "127.0.0.1:7104", "127.0.0.1:6404", "1", "a:1", ""});
  auto back = decode(bytes);
  REQUIRE(back.has_value());
  CHECK(back->op == Op::node_addresses);
  CHECK(back->args.size() == 6);
  CHECK(route_of(Op::node_addresses) == Route::write);
  // Not a triple: refused like any other wrong arity.
  std::string two(
      "\x07\x02\x01"
      "4\x01x",
      6);
  std::string_view why;
  CHECK_FALSE(decode(two, &why).has_value());
  CHECK(why == "wrong arity");
}

TEST_CASE("logged member addresses stay out of the key space") {
  KvStore s;
  s.apply(encode(Request{Op::set, {"k", "v"}, SetCondition::always}));
  const std::uint64_t digest = s.digest();
  CHECK(to_resp(s.apply(addresses({"4", "127.0.0.1:7104", "127.0.0.1:6404"}))) == "+OK\r\n");
  CHECK(s.key_count() == 1);
  CHECK(s.digest() == digest);
  CHECK(s.find("4") == nullptr);
  CHECK(to_resp(s.execute(Request{Op::dbsize, {}, SetCondition::always})) == ":1\r\n");
  REQUIRE(s.member_addresses().size() == 1);
  CHECK(s.member_addresses().at(4) == MemberAddress{"127.0.0.1:7104", "127.0.0.1:6404"});
}

TEST_CASE("a member address change moves the version; the same address again does not") {
  KvStore s;
  CHECK(s.addresses_version() == 0);
  s.apply(addresses({"4", "a:1", "b:2", "5", "c:3", "d:4"}));
  std::uint64_t v = s.addresses_version();
  CHECK(v > 0);
  s.apply(addresses({"4", "a:1", "b:2"}));
  CHECK(s.addresses_version() == v);
  s.apply(addresses({"4", "a:9", "b:2"}));
  CHECK(s.addresses_version() > v);
  CHECK(s.member_addresses().at(4).peer == "a:9");
}

TEST_CASE("a bad id in member addresses changes nothing, on every replica alike") {
  KvStore s;
  Reply r = s.apply(addresses({"4", "a:1", "b:2", "x", "c:3", "d:4"}));
  CHECK(r.is_error());
  CHECK(s.member_addresses().empty());
  CHECK(s.addresses_version() == 0);
  CHECK(s.apply(addresses({"0", "a:1", "b:2"})).is_error());
}

TEST_CASE("snapshots carry member addresses; without any they keep the SKVSNAP1 format") {
  // A store that never applied a log command (so every key version is 0)
  // writes the formats of earlier releases; execute() changes the state
  // without counting a log command.
  KvStore a;
  a.execute(Request{Op::set, {"k", "v"}, SetCondition::always});
  CHECK(a.snapshot().starts_with("SKVSNAP1"));
  KvStore plain;
  REQUIRE(plain.restore(a.snapshot()));
  a.execute(Request{
      Op::node_addresses, {"5", "127.0.0.1:7105", "127.0.0.1:6405", "4", "[::1]:7104", ""}, {}});
  const std::string snap = a.snapshot();
  CHECK(snap.starts_with("SKVSNAP2"));
  KvStore b;
  REQUIRE(b.restore(snap));
  CHECK(b.member_addresses() == a.member_addresses());
  CHECK(b.addresses_version() > 0);
  CHECK(b.digest() == a.digest());
  CHECK(b.snapshot() == snap);
  // Restoring a snapshot without addresses forgets them.
  REQUIRE(b.restore(plain.snapshot()));
  CHECK(b.member_addresses().empty());
}

TEST_CASE("a snapshot with member addresses rejects every truncation and flipped byte") {
  KvStore a;
  a.apply(addresses({"4", "127.0.0.1:7104", "127.0.0.1:6404"}));
  const std::string snap = a.snapshot();
  KvStore b;
  for (std::size_t n = 0; n < snap.size(); ++n) {
    CHECK_FALSE(b.restore(std::string_view(snap).substr(0, n)));
    std::string flipped = snap;
    flipped[n] = static_cast<char>(flipped[n] ^ 0x01);
    CHECK_FALSE(b.restore(flipped));
  }
  CHECK(b.member_addresses().empty());
}

TEST_CASE("the address book prefers logged addresses to the command line") {
  ServerOptions o =
      options_of({"--id", "1", "--peers", "1=127.0.0.1:7101,2=127.0.0.1:7102", "--clients",
                  "2=127.0.0.1:6402", "--listen", "127.0.0.1:6401", "--memory"});
  KvStore store;
  AddressBook book(o, store);
  CHECK(book.find(NodeId{2}) == MemberAddress{"127.0.0.1:7102", "127.0.0.1:6402"});
  CHECK(book.find(NodeId{1}) == MemberAddress{"127.0.0.1:7101", "127.0.0.1:6401"});
  CHECK_FALSE(book.find(NodeId{4}).has_value());
  CHECK(book.moved(NodeId{2}) == "-MOVED 0 127.0.0.1:6402\r\n");
  CHECK(book.moved(NodeId{4}) == "-NOTLEADER node 4 leads; send writes there\r\n");
  CHECK(book.moved(NodeId{}) == "-NOTLEADER no leader yet; retry shortly\r\n");
  store.apply(
      addresses({"4", "127.0.0.1:7104", "127.0.0.1:6404", "2", "10.0.0.2:7102", "10.0.0.2:6402"}));
  CHECK(book.find(NodeId{2}) == MemberAddress{"10.0.0.2:7102", "10.0.0.2:6402"});
  CHECK(book.moved(NodeId{4}) == "-MOVED 0 127.0.0.1:6404\r\n");
}

TEST_CASE("the transport's peers are the members but this node, with known peer addresses") {
  ServerOptions o =
      options_of({"--id", "1", "--peers", "1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103",
                  "--listen", "127.0.0.1:6401", "--memory"});
  KvStore store;
  AddressBook book(o, store);
  Membership m{{NodeId{1}, NodeId{2}}, {NodeId{4}, NodeId{5}}};
  store.apply(addresses({"4", "127.0.0.1:7104", "127.0.0.1:6404"}));
  std::vector<NodeId> unknown;
  std::vector<synod::Peer> peers = book.peers_of(m, &unknown);
  REQUIRE(peers.size() == 2);
  CHECK(peers[0].id == NodeId{2});
  CHECK(peers[0].address == "127.0.0.1:7102");
  CHECK(peers[1].id == NodeId{4});
  CHECK(peers[1].address == "127.0.0.1:7104");
  CHECK(unknown == std::vector<NodeId>{NodeId{5}});  // node 3 is not a member: not a peer
}

TEST_CASE("--join makes a learner of this node beside the other peers; never with --bootstrap") {
  ServerOptions o = options_of({"--id", "4", "--peers", "1=127.0.0.1:7101,4=127.0.0.1:7104",
                                "--listen", "127.0.0.1:6404", "--join", "--memory"});
  CHECK(o.join);
  std::string why;
  CHECK_FALSE(parse({"--id", "4", "--peers", "1=127.0.0.1:7101,4=127.0.0.1:7104", "--listen",
                     "127.0.0.1:6404", "--join", "--bootstrap"},
                    &why));
  CHECK(why.find("--join and --bootstrap") != std::string::npos);
  CHECK_FALSE(parse(
      {"--id", "4", "--peers", "4=127.0.0.1:7104", "--listen", "127.0.0.1:6404", "--join"}, &why));
  CHECK(why.find("current members") != std::string::npos);
  CHECK(std::string(server_usage()).find("--join") != std::string::npos);
}

TEST_CASE("with --shards, node ids above 255 are refused (transaction ids hold 8 bits of it)") {
  std::string why;
  CHECK_FALSE(parse({"--id", "1", "--peers", "1=127.0.0.1:7101,256=127.0.0.1:7102", "--listen",
                     "127.0.0.1:6401", "--memory", "--shards", "4"},
                    &why));
  CHECK(why.find("node ids must be at most 255") != std::string::npos);
  CHECK(parse({"--id", "1", "--peers", "1=127.0.0.1:7101,255=127.0.0.1:7102", "--listen",
               "127.0.0.1:6401", "--memory", "--shards", "4"},
              &why));
  CHECK(parse({"--id", "1", "--peers", "1=127.0.0.1:7101,256=127.0.0.1:7102", "--listen",
               "127.0.0.1:6401", "--memory"},
              &why));  // one group: no transaction ids
}
