// "host:port" and "[v6]:port" parsing, as the TCP transport reads peer
// addresses (public so a host validates addresses the same way).
#pragma once

#include <uv.h>

#include <string>

namespace synod {

// Fills *out with a numeric IPv4 or IPv6 address. No name lookup: addresses
// in a cluster configuration must be literal. On failure sets *why.
bool parse_address(const std::string& text, sockaddr_storage* out, std::string* why);

}  // namespace synod
