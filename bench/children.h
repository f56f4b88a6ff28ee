// The replica processes of a TCP run: started by re-executing this binary
// with --replica-mode, and stopped at the end of the run, on Ctrl-C, on an
// error exit, and (PR_SET_PDEATHSIG) when this process dies any other way.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace synod::bench {

// Free TCP ports on 127.0.0.1, one per replica (bound to port 0, read back,
// released: another program could take one in between, then the run fails
// to connect and says so).
bool pick_ports(std::size_t n, std::vector<std::uint32_t>& out, std::string* why);

// Starts this executable with `args` (argv[0] excluded). The child dies with
// this process. Returns its pid, or -1 with *why set.
pid_t spawn_self(const std::vector<std::string>& args, std::string* why);

// SIGTERM, then SIGKILL for any still alive after `grace_ms`; reaps them all.
void stop_children(int grace_ms);

// Every child started is killed when this process exits or gets SIGINT,
// SIGTERM or SIGHUP. Call once, before spawning.
void install_child_reaper();

// For replica processes: die when the parent does (also if it already did).
void die_with_parent(pid_t expected_parent);

// The children alive now.
std::vector<pid_t> children();

}  // namespace synod::bench
