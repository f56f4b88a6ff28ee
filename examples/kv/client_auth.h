// Who may talk to synod-kv: the AUTH / HELLO / QUIT handshake of one
// connection (Redis's names, replies and order of checks), the
// constant-time password compare, and protected mode's address test.
// No I/O: the RESP server asks the gate about each command before the
// command reaches the node (docs/kv.md, "Limits and authentication").
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

#include "resp_parser.h"

namespace synod::kv {

// True when a and b hold the same bytes. The time taken depends on the
// length of `given` only, never on where the first difference lies, so a
// client cannot find the password byte by byte by timing AUTH.
bool constant_time_equals(std::string_view secret, std::string_view given);

// 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8: the addresses Redis's
// protected mode trusts. Unix sockets are not served, so nothing else is.
bool is_loopback(const sockaddr* address);

// The reply protected mode sends a non-loopback client before closing it,
// worded as Redis's so that people recognise it and find the remedies.
std::string protected_mode_refusal();

// What the connection does with one command.
struct GateVerdict {
  enum class Action : std::uint8_t {
    pass,             // not a handshake command and allowed: run it
    reply,            // answered here: send `resp`
    reply_and_close,  // QUIT: send `resp`, then close
  };
  Action action = Action::pass;
  std::string resp;           // RESP bytes for reply / reply_and_close
  bool auth_failure = false;  // a wrong password (counted in INFO)
};

// One connection's authentication state. Every command goes through
// check() first: AUTH, HELLO and QUIT are answered here; any other command
// passes once the client is authenticated (at once when no password is
// configured) and is refused with -NOAUTH before.
class AuthGate {
 public:
  // `password`: the configured requirepass, or nullopt for none. The pointer
  // must outlive the gate (the server owns one copy for every client).
  explicit AuthGate(const std::optional<std::string>* password, std::uint64_t client_id)
      : password_(password), client_id_(client_id), authenticated_(!password->has_value()) {}

  GateVerdict check(CommandView command);
  GateVerdict check(const Command& command);
  bool authenticated() const { return authenticated_; }

 private:
  GateVerdict auth(CommandView command);
  GateVerdict hello(CommandView command);
  // Tries user/password; on failure returns the error verdict.
  std::optional<GateVerdict> try_login(std::string_view user, std::string_view password);

  const std::optional<std::string>* password_;
  std::uint64_t client_id_;
  bool authenticated_;
};

}  // namespace synod::kv
