#include "client_limits.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace synod::kv {

std::uint64_t reserved_descriptors(std::size_t peers) {
  // 32 as Redis (stdio, libuv, log lock, directory, active and next segment,
  // snapshot being written or sent, listeners), and an inbound and an
  // outbound connection for each peer, with room for a few more members.
  return 32 + 2 * (static_cast<std::uint64_t>(peers) + 4);
}

std::string fit_maxclients(std::uint64_t* max_clients, std::uint64_t reserve) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return {};
  const std::uint64_t wanted = *max_clients + reserve;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted) {
    rlimit raised = lim;
    raised.rlim_cur =
        lim.rlim_max == RLIM_INFINITY ? wanted : std::min<std::uint64_t>(wanted, lim.rlim_max);
    if (raised.rlim_cur > lim.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= wanted) return {};
  const std::uint64_t requested = *max_clients;
  *max_clients = lim.rlim_cur > reserve ? lim.rlim_cur - reserve : 1;
  return fmt::format(
      "You requested maxclients of {} requiring at least {} max file descriptors ({} reserved "
      "for the log, snapshots, peers and listeners). Current maximum open files is {}. "
      "maxclients has been reduced to {} to compensate for low ulimit. If you need higher "
      "maxclients increase 'ulimit -n'.",
      requested, wanted, reserve, static_cast<std::uint64_t>(lim.rlim_cur), *max_clients);
}

}  // namespace synod::kv
