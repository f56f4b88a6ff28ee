// synod-kv's peer-link security flags: TLS files all or none, and no
// plaintext consensus port beyond loopback unless --insecure-peers says so
// (docs/security.md).
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "server_options.h"

using namespace synod::kv;

namespace {

std::optional<ServerOptions> parse(std::vector<std::string> words, std::string* why) {
  std::vector<std::string> base{"--id", "1", "--listen", "127.0.0.1:6401", "--memory"};
  base.insert(base.end(), words.begin(), words.end());
  std::vector<char*> argv{const_cast<char*>("synod-kv")};
  for (std::string& w : base) argv.push_back(w.data());
  return parse_server_options(static_cast<int>(argv.size()), argv.data(), why);
}

const std::string kLoopPeers = "1=127.0.0.1:7101,2=127.0.0.1:7102";
const std::string kWidePeers = "1=10.1.2.3:7101,2=10.1.2.4:7101";

}  // namespace

TEST_CASE("loopback addresses are 127.0.0.0/8 and ::1, nothing else") {
  CHECK(is_loopback_address("127.0.0.1:7101"));
  CHECK(is_loopback_address("127.1.2.3:1"));
  CHECK(is_loopback_address("localhost:7101"));
  CHECK(is_loopback_address("[::1]:7101"));
  CHECK_FALSE(is_loopback_address("0.0.0.0:7101"));  // every interface
  CHECK_FALSE(is_loopback_address("10.1.2.3:7101"));
  CHECK_FALSE(is_loopback_address("128.0.0.1:7101"));
  CHECK_FALSE(is_loopback_address("[::]:7101"));
  CHECK_FALSE(is_loopback_address("[::ffff:10.0.0.1]:7101"));
  CHECK_FALSE(is_loopback_address("not-an-address:1"));
}

TEST_CASE("plaintext peer links are refused beyond loopback unless --insecure-peers") {
  std::string why;
  CHECK(parse({"--peers", kLoopPeers}, &why));
  CHECK_FALSE(parse({"--peers", kWidePeers}, &why));
  CHECK(why.find("refusing plaintext peer links on 10.1.2.3:7101") != std::string::npos);
  CHECK(why.find("--insecure-peers") != std::string::npos);
  auto o = parse({"--peers", kWidePeers, "--insecure-peers"}, &why);
  REQUIRE(o);
  CHECK(o->insecure_peers);
  CHECK_FALSE(o->tls.enabled());
}

TEST_CASE("--tls-cert, --tls-key and --tls-ca go together and enable peer TLS") {
  std::string why;
  auto o = parse(
      {"--peers", kWidePeers, "--tls-cert", "n1.crt", "--tls-key", "n1.key", "--tls-ca", "ca.crt"},
      &why);
  REQUIRE(o);
  CHECK(o->tls.enabled());
  CHECK(o->tls.cert_file == "n1.crt");
  CHECK(o->tls.key_file == "n1.key");
  CHECK(o->tls.ca_file == "ca.crt");
  CHECK_FALSE(parse({"--peers", kLoopPeers, "--tls-cert", "n1.crt", "--tls-key", "n1.key"}, &why));
  CHECK(why.find("all three") != std::string::npos);
  CHECK_FALSE(parse({"--peers", kWidePeers, "--tls-cert", "a", "--tls-key", "b", "--tls-ca", "c",
                     "--insecure-peers"},
                    &why));
  CHECK(why.find("exclude each other") != std::string::npos);
  CHECK(std::string(server_usage()).find("--tls-ca") != std::string::npos);
}

TEST_CASE("--tls-clients needs the TLS files; --tls-auth-clients needs --tls-clients") {
  std::string why;
  const std::vector<std::string> files{"--tls-cert", "n1.crt",   "--tls-key",
                                       "n1.key",     "--tls-ca", "ca.crt"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> w{"--peers", kLoopPeers};
    w.insert(w.end(), extra.begin(), extra.end());
    return parse(w, &why);
  };
  CHECK_FALSE(with({"--tls-clients"}));
  CHECK(why.find("--tls-clients needs") != std::string::npos);
  std::vector<std::string> clients = files;
  clients.push_back("--tls-clients");
  auto o = with(clients);
  REQUIRE(o);
  CHECK(o->tls_clients);
  CHECK_FALSE(o->tls_auth_clients);
  clients.insert(clients.end(), {"--tls-auth-clients", "yes"});
  o = with(clients);
  REQUIRE(o);
  CHECK(o->tls_auth_clients);
  std::vector<std::string> auth_only = files;
  auth_only.insert(auth_only.end(), {"--tls-auth-clients", "yes"});
  CHECK_FALSE(with(auth_only));
  CHECK(why.find("needs --tls-clients") != std::string::npos);
  clients.back() = "maybe";
  CHECK_FALSE(with(clients));
  CHECK(why.find("yes or no") != std::string::npos);
}
