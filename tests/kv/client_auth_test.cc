// AUTH / HELLO / QUIT and the -NOAUTH gate, the constant-time compare, and
// protected mode's loopback test (examples/kv/client_auth.h).
#include "client_auth.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <string>

using namespace synod::kv;
using Action = GateVerdict::Action;

namespace {

const std::optional<std::string> kPassword = std::string("s3cret pass");
const std::optional<std::string> kNoPassword;

GateVerdict run(AuthGate& gate, Command command) { return gate.check(command); }

constexpr const char* kNoAuth = "-NOAUTH Authentication required.\r\n";
constexpr const char* kWrongPass =
    "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

sockaddr_in v4(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, ip, &a.sin_addr) == 1);
  return a;
}

sockaddr_in6 v6(const char* ip) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  REQUIRE(inet_pton(AF_INET6, ip, &a.sin6_addr) == 1);
  return a;
}

}  // namespace

TEST_CASE("with a password, every command but AUTH, HELLO and QUIT gets -NOAUTH until AUTH") {
  AuthGate gate(&kPassword, 7);
  CHECK_FALSE(gate.authenticated());
  for (Command c : {Command{"GET", "k"}, Command{"set", "k", "v"}, Command{"PING"},
                    Command{"CLUSTER", "ADDLEARNER", "9", "1.2.3.4:1", "1.2.3.4:2"},
                    Command{"cluster", "delnode", "2"}, Command{"CLUSTER", "TRANSFER", "2"},
                    Command{"INFO"}, Command{"CONFIG", "GET", "save"}}) {
    INFO(c[0]);
    GateVerdict v = run(gate, c);
    CHECK(v.action == Action::reply);
    CHECK(v.resp == kNoAuth);
    CHECK_FALSE(v.auth_failure);
  }
  GateVerdict ok = run(gate, {"AUTH", "s3cret pass"});
  CHECK(ok.action == Action::reply);
  CHECK(ok.resp == "+OK\r\n");
  CHECK(gate.authenticated());
  CHECK(run(gate, {"GET", "k"}).action == Action::pass);
  CHECK(run(gate, {"CLUSTER", "DELNODE", "2"}).action == Action::pass);
}

TEST_CASE("AUTH default <password> works; a wrong password or user is WRONGPASS and counted") {
  AuthGate gate(&kPassword, 1);
  GateVerdict wrong = run(gate, {"auth", "s3cret pasS"});
  CHECK(wrong.resp == kWrongPass);
  CHECK(wrong.auth_failure);
  CHECK_FALSE(gate.authenticated());
  CHECK(run(gate, {"AUTH", "s3cret pas"}).resp == kWrongPass);            // a prefix
  CHECK(run(gate, {"AUTH", "s3cret passs"}).resp == kWrongPass);          // longer
  CHECK(run(gate, {"AUTH", ""}).resp == kWrongPass);                      // empty
  CHECK(run(gate, {"AUTH", "admin", "s3cret pass"}).resp == kWrongPass);  // no such user
  CHECK(run(gate, {"AUTH", "Default", "s3cret pass"}).resp == kWrongPass);
  CHECK_FALSE(gate.authenticated());
  CHECK(run(gate, {"AUTH", "default", "s3cret pass"}).resp == "+OK\r\n");
  CHECK(gate.authenticated());
  // A later wrong AUTH keeps the connection authenticated, as in Redis.
  CHECK(run(gate, {"AUTH", "nope"}).resp == kWrongPass);
  CHECK(gate.authenticated());
}

TEST_CASE("AUTH arity and AUTH without a configured password answer as Redis does") {
  AuthGate open(&kNoPassword, 1);
  CHECK(open.authenticated());
  CHECK(run(open, {"GET", "k"}).action == Action::pass);
  CHECK(run(open, {"AUTH", "x"}).resp ==
        "-ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?\r\n");
  CHECK(run(open, {"AUTH", "default", "anything"}).resp == "+OK\r\n");  // nopass user
  CHECK(run(open, {"AUTH", "someone", "x"}).resp == kWrongPass);
  AuthGate gate(&kPassword, 1);
  CHECK(run(gate, {"AUTH"}).resp == "-ERR wrong number of arguments for 'auth' command\r\n");
  CHECK(run(gate, {"AUTH", "a", "b", "c"}).resp == "-ERR syntax error\r\n");
}

TEST_CASE("HELLO 2 AUTH default <password> authenticates and answers the handshake map") {
  AuthGate gate(&kPassword, 42);
  GateVerdict bare = run(gate, {"HELLO", "2"});
  CHECK(bare.resp.starts_with("-NOAUTH HELLO must be called with the client already"));
  CHECK_FALSE(gate.authenticated());
  GateVerdict wrong = run(gate, {"HELLO", "2", "AUTH", "default", "bad"});
  CHECK(wrong.resp == kWrongPass);
  CHECK(wrong.auth_failure);
  GateVerdict ok = run(gate, {"hello", "2", "auth", "default", "s3cret pass", "setname", "me"});
  CHECK(gate.authenticated());
  CHECK(ok.resp.starts_with("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n"));
  CHECK(ok.resp.find("$5\r\nproto\r\n:2\r\n") != std::string::npos);
  CHECK(ok.resp.find("$2\r\nid\r\n:42\r\n") != std::string::npos);
  CHECK(run(gate, {"HELLO"}).resp.starts_with("*14\r\n"));
}

TEST_CASE("HELLO 3 gets -NOPROTO (RESP2 only); bad versions and options are errors") {
  AuthGate gate(&kNoPassword, 1);
  CHECK(run(gate, {"HELLO", "3"}).resp.starts_with("-NOPROTO unsupported protocol version"));
  CHECK(run(gate, {"HELLO", "1"}).resp.starts_with("-NOPROTO"));
  CHECK(run(gate, {"HELLO", "two"}).resp ==
        "-ERR Protocol version is not an integer or out of range\r\n");
  CHECK(run(gate, {"HELLO", "2", "AUTH", "default"}).resp ==
        "-ERR Syntax error in HELLO option 'AUTH'\r\n");
  CHECK(run(gate, {"HELLO", "2", "FOO"}).resp == "-ERR Syntax error in HELLO option 'FOO'\r\n");
}

TEST_CASE("QUIT answers +OK and closes, authenticated or not") {
  AuthGate gate(&kPassword, 1);
  GateVerdict v = run(gate, {"quit"});
  CHECK(v.action == Action::reply_and_close);
  CHECK(v.resp == "+OK\r\n");
}

TEST_CASE("constant_time_equals is plain equality on bytes, lengths included") {
  CHECK(constant_time_equals("abc", "abc"));
  CHECK(constant_time_equals("", ""));
  CHECK_FALSE(constant_time_equals("abc", "abd"));
  CHECK_FALSE(constant_time_equals("abc", "ab"));
  CHECK_FALSE(constant_time_equals("abc", "abcabc"));  // cycles over the secret: still unequal
  CHECK_FALSE(constant_time_equals("abc", ""));
  CHECK_FALSE(constant_time_equals("", "a"));
  CHECK(constant_time_equals(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(constant_time_equals(std::string("a\0b", 3), std::string("a\0c", 3)));
  std::string secret(300, 'x');
  for (std::size_t i = 0; i < secret.size(); i += 37) {
    std::string other = secret;
    other[i] = 'y';
    CHECK_FALSE(constant_time_equals(secret, other));
  }
}

TEST_CASE("protected mode trusts 127.0.0.0/8, ::1 and mapped 127/8 only") {
  for (const char* ip : {"127.0.0.1", "127.0.0.2", "127.255.255.254"}) {
    INFO(ip);
    sockaddr_in a = v4(ip);
    CHECK(is_loopback(reinterpret_cast<const sockaddr*>(&a)));
  }
  for (const char* ip : {"10.0.0.1", "192.168.1.1", "128.0.0.1", "0.0.0.0", "8.8.8.8"}) {
    INFO(ip);
    sockaddr_in a = v4(ip);
    CHECK_FALSE(is_loopback(reinterpret_cast<const sockaddr*>(&a)));
  }
  for (const char* ip : {"::1", "::ffff:127.0.0.1", "::ffff:127.1.2.3"}) {
    INFO(ip);
    sockaddr_in6 a = v6(ip);
    CHECK(is_loopback(reinterpret_cast<const sockaddr*>(&a)));
  }
  for (const char* ip : {"::", "::2", "fe80::1", "2001:db8::1", "::ffff:10.0.0.1"}) {
    INFO(ip);
    sockaddr_in6 a = v6(ip);
    CHECK_FALSE(is_loopback(reinterpret_cast<const sockaddr*>(&a)));
  }
  CHECK(protected_mode_refusal().starts_with("-DENIED Redis is running in protected mode"));
  CHECK(protected_mode_refusal().find("--protected-mode no") != std::string::npos);
  CHECK(protected_mode_refusal().find("--requirepass-file") != std::string::npos);
}
