// The Redis client port of a synod-kv node, one group or sharded: limits
// fitted to the descriptors left, TLS when asked, and the RESP server.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "resp_server.h"
#include "server_options.h"
#include "tls_context.h"

namespace synod::kv {

// Starts the port with commands of at most command_bytes_max (what the log
// takes); false with *why set on failure.
bool start_client_port(uv_loop_t* loop, const ServerOptions& opt, std::uint64_t command_bytes_max,
                       RespHandler& handler, std::unique_ptr<TlsContext>* client_tls,
                       std::unique_ptr<RespServer>* resp, std::string* why);

}  // namespace synod::kv
