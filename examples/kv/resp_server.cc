#include "resp_server.h"

#include <fmt/format.h>

#include "resp_server_client.h"
#include "synod/tcp_address.h"
#include "tls_context.h"

namespace synod::kv {

using namespace resp_bounds;

namespace {

std::string peer_name(const uv_tcp_t* tcp, sockaddr_storage* addr) {
  int len = sizeof *addr;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(addr), &len) != 0) return "?";
  char ip[64] = "?";
  int port = 0;
  if (addr->ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    uv_ip4_name(in, ip, sizeof ip);
    port = ntohs(in->sin_port);
    return fmt::format("{}:{}", ip, port);
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
  uv_ip6_name(in6, ip, sizeof ip);
  return fmt::format("[{}]:{}", ip, ntohs(in6->sin6_port));
}

}  // namespace

RespServer::RespServer(uv_loop_t* loop, std::string listen, ClientLimits limits,
                       RespHandler& handler, const TlsContext* tls)
    : loop_(loop),
      listen_(std::move(listen)),
      limits_(std::move(limits)),
      handler_(handler),
      tls_(tls) {}

RespServer::~RespServer() {
  // Clients closed with replies still owed (the node never answered them)
  // are kept alive only by their own self pointer: freed here.
  std::vector<std::shared_ptr<Client>> owed;
  for (const auto& p : reply_records_)
    if (Client* c = p->client; c && c->closed && c->self) owed.push_back(std::move(c->self));
}  // freed here, after the loop looked at every record naming them

Status RespServer::start(std::string* why) {
  sockaddr_storage addr{};
  if (!parse_address(listen_, &addr, why)) return Status::invalid_config;
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 511, [](uv_stream_t* s, int status) {
      static_cast<RespServer*>(s->data)->on_connection(status);
    });
  if (rc != 0) {
    *why = fmt::format("cannot listen on {}: {}", listen_, uv_strerror(rc));
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
    return Status::unavailable;
  }
  sweep_ = new uv_timer_t;
  uv_timer_init(loop_, sweep_);
  sweep_->data = this;
  uv_timer_start(
      sweep_, [](uv_timer_t* t) { static_cast<RespServer*>(t->data)->on_sweep(); }, kSweepMs,
      kSweepMs);
  // Prepare handles run after the idle phase (where UvHost applies and
  // answers) and before every poll, so no reply waits for the loop to sleep.
  before_poll_ = new uv_prepare_t;
  uv_prepare_init(loop_, before_poll_);
  before_poll_->data = this;
  uv_prepare_start(before_poll_,
                   [](uv_prepare_t* p) { static_cast<RespServer*>(p->data)->flush_answered(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(before_poll_));  // the clients keep the loop alive
  return Status::ok;
}

void RespServer::stop() {
  for (uv_handle_t* h :
       {reinterpret_cast<uv_handle_t*>(listener_), reinterpret_cast<uv_handle_t*>(sweep_),
        reinterpret_cast<uv_handle_t*>(before_poll_)}) {
    if (h)
      uv_close(h, [](uv_handle_t* handle) {
        if (handle->type == UV_TIMER)
          delete reinterpret_cast<uv_timer_t*>(handle);
        else if (handle->type == UV_PREPARE)
          delete reinterpret_cast<uv_prepare_t*>(handle);
        else
          delete reinterpret_cast<uv_tcp_t*>(handle);
      });
  }
  listener_ = nullptr;
  sweep_ = nullptr;
  before_poll_ = nullptr;
  flush_answered();  // what was answered before the stop still goes out
  for (auto& c : std::vector<std::shared_ptr<Client>>(clients_)) close(*c);
}

std::vector<InfoSection> RespServer::info() const {
  const ClientStats& s = stats_;
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  InfoSection clients{"clients",
                      {{"connected_clients", n(clients_.size())},
                       {"maxclients", n(limits_.max_clients)},
                       {"requirepass", limits_.password ? "yes" : "no"},
                       {"protected_mode", limits_.protected_mode ? "yes" : "no"},
                       {"tls", tls_ ? "yes" : "no"}}};
  InfoSection stats{"stats",
                    {{"total_connections_received", n(s.total_connections_received)},
                     {"rejected_connections", n(s.rejected_connections)},
                     {"protected_mode_refusals", n(s.protected_mode_refusals)},
                     {"accept_failures", n(s.accept_failures)},
                     {"client_output_buffer_limit_disconnections",
                      n(s.client_output_buffer_limit_disconnections)},
                     {"client_output_buffer_read_pauses", n(s.client_output_buffer_read_pauses)},
                     {"client_timeouts", n(s.client_timeouts)},
                     {"protocol_errors", n(s.protocol_errors)},
                     {"acl_access_denied_auth", n(s.acl_access_denied_auth)},
                     {"noauth_refusals", n(s.noauth_refusals)},
                     {"tls_failures", n(s.tls_failures)},
                     {"txn_queue_refusals", n(s.txn_queue_refusals)}}};
  return {clients, stats};
}

void RespServer::on_connection(int status) {
  if (status != 0) {
    // libuv reports only what its EMFILE trick (close the spare descriptor,
    // accept and close the waiting connections, reopen it) could not
    // absorb; the trick itself is silent. Logged at most once a second.
    ++stats_.accept_failures;
    std::uint64_t now = uv_now(loop_);
    if (last_accept_log_ms_ == 0 || now - last_accept_log_ms_ >= 1000) {
      last_accept_log_ms_ = now;
      fmt::print(stderr, "synod-kv: accepting a client failed: {} ({} failures so far)\n",
                 uv_strerror(status), stats_.accept_failures);
    }
    return;
  }
  ParserLimits parser_limits;
  parser_limits.bulk_bytes_max = limits_.command_bytes_max;
  parser_limits.request_bytes_max = limits_.command_bytes_max;
  auto c = std::make_shared<Client>(this, parser_limits, next_client_id_++);
  c->self = c;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c.get();
  clients_.push_back(c);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_),
                reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    ++stats_.accept_failures;
    close(*c);
    return;
  }
  ++stats_.total_connections_received;
  c->last_activity_ms = c->accepted_ms = uv_now(loop_);
  // With TLS even a refusal travels inside the session, once the client's
  // handshake is through.
  if (tls_) c->tls = std::make_unique<TlsSession>(tls_->get(), TlsSession::Role::server);
  sockaddr_storage peer{};
  c->addr = peer_name(&c->tcp, &peer);
  if (clients_.size() > limits_.max_clients) {
    ++stats_.rejected_connections;
    return refuse(*c, "-ERR max number of clients reached\r\n");
  }
  if (!limits_.password && limits_.protected_mode &&
      !is_loopback(reinterpret_cast<const sockaddr*>(&peer))) {
    ++stats_.protected_mode_refusals;
    return refuse(*c, protected_mode_refusal());
  }
  uv_tcp_nodelay(&c->tcp, 1);
  start_reading(*c);
}

// Answers once and closes, without reading anything from the client.
void RespServer::refuse(Client& c, std::string resp) {
  c.push_answer(std::move(resp));
  c.close_after_write = true;
  if (c.tls) start_reading(c);  // the handshake must finish for the reply to go
  flush(c);
}

void RespServer::on_sweep() {
  const std::uint64_t now = uv_now(loop_);
  const std::uint64_t idle_ms = limits_.idle_timeout_seconds * 1000;
  for (auto& c : std::vector<std::shared_ptr<Client>>(clients_)) {
    if (c->closing) continue;
    if (output_limit_broken(*c)) continue;
    if (c->tls && !c->tls->established() && now - c->accepted_ms >= kTlsHandshakeMs) {
      ++stats_.tls_failures;
      // Logged at most once a second, as the other TLS failures: anyone can
      // open connections and stay silent.
      if (last_tls_log_ms_ == 0 || now - last_tls_log_ms_ >= 1000) {
        last_tls_log_ms_ = now;
        fmt::print(stderr,
                   "synod-kv: client addr={} closed: no TLS handshake within {} ms ({} TLS "
                   "failures so far)\n",
                   c->addr, kTlsHandshakeMs, stats_.tls_failures);
      }
      close(*c);
      continue;
    }
    // Redis's timeout: a client with nothing in flight that sent nothing and
    // read nothing for that long.
    if (idle_ms > 0 && c->slots.empty() && !c->write_busy && c->out.empty() &&
        now - c->last_activity_ms >= idle_ms) {
      ++stats_.client_timeouts;
      close(*c);
    }
  }
}

void RespServer::close(Client& c) {
  if (c.closing) return;
  c.closing = true;
  c.out.clear();  // the unread replies go now, not when libuv is done
  c.out_bytes = 0;
  c.slots.clear();
  c.answered_bytes = 0;
  c.held.clear();
  c.watch_targets.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), [](uv_handle_t* h) {
    auto* client = static_cast<Client*>(h->data);
    RespServer* server = client->server;
    std::erase_if(server->clients_, [client](const auto& p) { return p.get() == client; });
    client->closed = true;
    // Replies still owed to it find it through their records (on_reply
    // frees it after the last one, ~RespServer if they never come).
    if (client->records == 0) client->self.reset();  // may free the client
  });
}

}  // namespace synod::kv
