#include "synod/tcp_address.h"

#include <charconv>

namespace synod {

bool parse_address(const std::string& text, sockaddr_storage* out, std::string* why) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    *why = "expected host:port";
    return false;
  }
  std::string host = text.substr(0, colon);
  int port = 0;
  const char* p = text.data() + colon + 1;
  auto [end, ec] = std::from_chars(p, text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 0 || port > 65535) {
    *why = "bad port";
    return false;
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    if (uv_ip6_addr(host.substr(1, host.size() - 2).c_str(), port,
                    reinterpret_cast<sockaddr_in6*>(out)) == 0)
      return true;
  } else if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) {
    return true;
  }
  *why = "not a numeric IPv4 or [IPv6] address";
  return false;
}

}  // namespace synod
