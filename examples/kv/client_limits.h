// What one synod-kv process allows its Redis clients, with Redis's names
// and, where Redis has one, Redis's default (docs/kv.md, "Limits and
// authentication"). Set from the command line (server_options.h); enforced
// by the RESP server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace synod::kv {

struct ClientLimits {
  // requirepass: clients must AUTH with it first; nullopt: no password.
  std::optional<std::string> password;
  // protected-mode: without a password, only loopback clients are served.
  bool protected_mode = true;
  // maxclients: connections beyond it get -ERR max number of clients
  // reached. Lowered at start to what RLIMIT_NOFILE leaves (fit_maxclients).
  std::uint64_t max_clients = 10000;
  // client-output-buffer-limit (Redis's normal class): a client whose unread
  // reply bytes exceed the hard limit, or stay above the soft limit for
  // soft_seconds, is closed. 0 turns each off. Reads from a client over the
  // soft limit pause until it drains.
  std::uint64_t output_hard_bytes = 256ull << 20;
  std::uint64_t output_soft_bytes = 64ull << 20;
  std::uint64_t output_soft_seconds = 60;
  // timeout: close a client idle this long (nothing sent, nothing pending);
  // 0: never, as in Redis.
  std::uint64_t idle_timeout_seconds = 0;
  // The longest argument (and sum of arguments) of one command: the largest
  // command the log accepts (Config::batch_bytes_max). A longer bulk is
  // refused as soon as its length line arrives.
  std::size_t command_bytes_max = 1u << 20;
};

// Descriptors kept for everything but clients: stdio, libuv's own (epoll,
// async, signal pipes, the EMFILE spare), the log's lock, segments and
// snapshot files, and two connections per peer. Redis keeps 32 for itself.
std::uint64_t reserved_descriptors(std::size_t peers);

// Redis's adjustOpenFilesLimit: raises the soft RLIMIT_NOFILE towards
// max_clients + reserve (up to the hard limit) and, if that still does not
// fit, lowers *max_clients to what does. Returns the log line to print when
// it lowered the figure (empty when it did not).
std::string fit_maxclients(std::uint64_t* max_clients, std::uint64_t reserve);

}  // namespace synod::kv
