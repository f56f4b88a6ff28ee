#include "client_port.h"

#include <fmt/format.h>

#include <utility>

namespace synod::kv {

bool start_client_port(uv_loop_t* loop, const ServerOptions& opt, std::uint64_t command_bytes_max,
                       RespHandler& handler, std::unique_ptr<TlsContext>* client_tls,
                       std::unique_ptr<RespServer>* resp, std::string* why) {
  ClientLimits limits = opt.limits;
  limits.command_bytes_max = command_bytes_max;
  if (std::string lowered =
          fit_maxclients(&limits.max_clients, reserved_descriptors(opt.peers.size()));
      !lowered.empty())
    fmt::print(stderr, "synod-kv: node {}: {}\n", opt.id.value, lowered);
  if (opt.tls_clients) {
    *client_tls = TlsContext::create(opt.tls, why,
                                     opt.tls_auth_clients ? TlsContext::PeerCert::required
                                                          : TlsContext::PeerCert::not_requested);
    if (!*client_tls) {
      *why = "client port TLS: " + *why;
      return false;
    }
  }
  *resp =
      std::make_unique<RespServer>(loop, opt.listen, std::move(limits), handler, client_tls->get());
  return (*resp)->start(why) == Status::ok;
}

}  // namespace synod::kv
