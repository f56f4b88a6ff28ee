#include "client_auth.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "kv_command.h"
#include "resp_reply.h"

namespace synod::kv {
namespace {

// Redis's user: synod-kv has no ACL users, only Redis's "default" one.
constexpr std::string_view kDefaultUser = "default";

GateVerdict reply(const Reply& r) { return {GateVerdict::Action::reply, to_resp(r), false}; }

GateVerdict wrong_password() {
  GateVerdict v =
      reply(Reply::error("WRONGPASS invalid username-password pair or user is disabled."));
  v.auth_failure = true;
  return v;
}

}  // namespace

bool constant_time_equals(std::string_view secret, std::string_view given) {
  // Every byte of `given` is compared with some byte of `secret` (cycling
  // over it), so the loop runs the same whatever the contents; the length
  // mismatch joins the same accumulator instead of returning early.
  volatile unsigned char diff = secret.size() == given.size() ? 0 : 1;
  if (secret.empty()) return given.empty();
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff =
        static_cast<unsigned char>(diff | (static_cast<unsigned char>(given[i]) ^
                                           static_cast<unsigned char>(secret[i % secret.size()])));
  }
  return diff == 0;
}

bool is_loopback(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    const unsigned char* b = in6->sin6_addr.s6_addr;
    static constexpr unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kLoopback, 16) == 0) return true;
    return std::memcmp(b, kMappedPrefix, 12) == 0 && b[12] == 127;
  }
  return false;
}

std::string protected_mode_refusal() {
  return "-DENIED Redis is running in protected mode because protected mode is enabled and no "
         "password is set for the default user. In this mode connections are only accepted from "
         "the loopback interface. If you want to connect from external computers to synod-kv you "
         "may adopt one of the following solutions: 1) Set up an authentication password for the "
         "default user: restart the server with '--requirepass-file FILE'. 2) If you started the "
         "server manually just for testing, restart it with the '--protected-mode no' option; "
         "MAKE SURE synod-kv is not publicly accessible from internet if you do so. NOTE: You "
         "only need to do one of the above things in order for the server to start accepting "
         "connections from the outside.\r\n";
}

GateVerdict AuthGate::check(const Command& command) {
  std::vector<std::string_view> words(command.begin(), command.end());
  return check(CommandView(words));
}

GateVerdict AuthGate::check(CommandView command) {
  std::string_view name = command[0];
  if (iequals(name, "auth")) return auth(command);
  if (iequals(name, "hello")) return hello(command);
  if (iequals(name, "quit")) return {GateVerdict::Action::reply_and_close, "+OK\r\n", false};
  if (!authenticated_) return reply(Reply::error("NOAUTH Authentication required."));
  return {};
}

std::optional<GateVerdict> AuthGate::try_login(std::string_view user, std::string_view password) {
  if (!password_->has_value()) {
    // Redis's default user without a password ("nopass") takes any password.
    if (user == kDefaultUser) return std::nullopt;
    return wrong_password();
  }
  // Compare the password even for an unknown user, so the time taken does
  // not tell which of the two was wrong.
  bool password_ok = constant_time_equals(**password_, password);
  if (user != kDefaultUser || !password_ok) return wrong_password();
  authenticated_ = true;
  return std::nullopt;
}

// AUTH <password> | AUTH <username> <password>, as Redis 6+ answers them.
GateVerdict AuthGate::auth(CommandView command) {
  if (command.size() < 2)
    return reply(Reply::error("ERR wrong number of arguments for 'auth' command"));
  if (command.size() > 3) return reply(Reply::error("ERR syntax error"));
  if (command.size() == 2 && !password_->has_value()) {
    return reply(Reply::error(
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?"));
  }
  std::string_view user = command.size() == 3 ? command[1] : kDefaultUser;
  if (auto refused = try_login(user, command.back())) return *refused;
  return reply(Reply::ok());
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]: Redis's
// order of checks (version, options, authentication, then the handshake
// map). synod-kv speaks RESP2 only, so protover 3 gets -NOPROTO, which
// clients take as "fall back to RESP2".
GateVerdict AuthGate::hello(CommandView command) {
  std::int64_t version = 2;
  std::size_t next = 1;
  if (command.size() >= 2) {
    if (!parse_redis_int64(command[1], &version))
      return reply(Reply::error("ERR Protocol version is not an integer or out of range"));
    if (version != 2)
      return reply(
          Reply::error("NOPROTO unsupported protocol version: synod-kv speaks RESP2 only"));
    next = 2;
  }
  const std::string_view* user = nullptr;
  const std::string_view* password = nullptr;
  for (std::size_t j = next; j < command.size(); ++j) {
    std::size_t more = command.size() - 1 - j;
    if (iequals(command[j], "auth") && more >= 2) {
      user = &command[j + 1];
      password = &command[j + 2];
      j += 2;
    } else if (iequals(command[j], "setname") && more >= 1) {
      ++j;  // accepted and ignored: synod-kv keeps no client names
    } else {
      return reply(
          Reply::error("ERR Syntax error in HELLO option '" + std::string(command[j]) + "'"));
    }
  }
  if (user != nullptr) {
    if (auto refused = try_login(*user, *password)) return *refused;
  }
  if (!authenticated_) {
    return reply(Reply::error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
        "<proto> AUTH <user> <pass> option can be used to authenticate the client and select "
        "the RESP protocol version at the same time"));
  }
  return reply(Reply::array({
      Reply::bulk("server"),
      Reply::bulk("redis"),
      Reply::bulk("version"),
      Reply::bulk("7.0.0"),
      Reply::bulk("proto"),
      Reply::integer(2),
      Reply::bulk("id"),
      Reply::integer(static_cast<std::int64_t>(client_id_)),
      Reply::bulk("mode"),
      Reply::bulk("standalone"),
      Reply::bulk("role"),
      Reply::bulk("master"),
      Reply::bulk("modules"),
      Reply::array({}),
  }));
}

}  // namespace synod::kv
