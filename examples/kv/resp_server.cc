#include "resp_server.h"

#include <fmt/format.h>

#include <deque>
#include <optional>
#include <tuple>
#include <type_traits>

#include "client_auth.h"
#include "resp_parser.h"
#include "synod/tcp_address.h"
#include "tls_context.h"
#include "tls_session.h"
#include "txn_session.h"

namespace synod::kv {

namespace {
// Beyond this many unanswered requests a client's reads pause: a pipelining
// client cannot make the server buffer without bound.
constexpr std::size_t kOutstandingMax = 4096;
// Likewise for the bytes of the requests it has in flight (4096 SETs of 1
// MiB would otherwise be 4 GiB of arguments held for one client).
constexpr std::size_t kPendingRequestBytesMax = 32u << 20;
// Reads of one client handed to the node and not yet answered, at most; the
// rest wait in order. Once a client is closed (say, over its output buffer
// limit) the node still answers what it was handed, so this bounds the work
// wasted on it: 2000 pipelined GETs of 1 MB would otherwise copy 4 GB after
// the close and stall the loop past an election timeout. Writes are not
// capped: their replies are small, and a deep pipeline of them is what fills
// a group commit (32 writes in flight cut one client's -P 256 SETs on a
// durable log from 49k/s to 10k/s).
constexpr std::size_t kReadsSubmittedMax = 32;
constexpr std::uint64_t kSweepMs = 1000;
constexpr std::size_t kChunkBytes = 64 * 1024;
// Buffers handed to one uv_write, at most.
constexpr std::size_t kWriteBufsMax = 256;
// A TLS client that has not finished its handshake by then is closed (a
// half-open handshake would otherwise hold a client slot for ever).
constexpr std::uint64_t kTlsHandshakeMs = 10'000;
// Commands one connection may queue between MULTI and EXEC (the bytes are
// bounded by the longest command the log takes).
constexpr std::size_t kTxnCommandsMax = 10000;

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

struct RespServer::Client {
  Client(RespServer* s, ParserLimits parser_limits, std::uint64_t client_id)
      : server(s),
        parser(parser_limits),
        id(client_id),
        gate(&s->limits_.password, client_id),
        txn(TxnLimits{kTxnCommandsMax, s->limits_.command_bytes_max}) {}

  RespServer* server = nullptr;
  uv_tcp_t tcp{};
  uv_write_t write_req{};
  RequestParser parser;
  std::uint64_t id = 0;
  std::string addr = "?";  // ip:port, for log lines
  AuthGate gate;
  TxnSession txn;  // MULTI / EXEC / WATCH state
  // Where the versions of each WATCH read not yet submitted go, in order.
  std::deque<std::pair<std::shared_ptr<WatchList>, std::size_t>> watch_targets;
  // Replies in request order. Invariant: slots_[i] answers request base_ + i.
  std::deque<std::optional<std::string>> slots;
  std::uint64_t base = 0;
  // Ready bytes not yet written, and those of the write in flight: chunks,
  // not one string, so a large backlog is never copied to grow (a doubling
  // string would briefly hold twice the output buffer limit).
  std::deque<std::string> out;
  std::size_t out_bytes = 0;
  std::vector<std::string> writing;
  std::size_t writing_bytes = 0;
  bool write_busy = false;
  bool reading = false;
  // TLS on the client port (--tls-clients): the session, the decrypted bytes
  // of the last read, and the ciphertext of the write in flight.
  std::unique_ptr<TlsSession> tls;
  std::vector<std::uint8_t> plain;
  std::vector<std::uint8_t> cipher;
  std::uint64_t accepted_ms = 0;
  bool closing = false;
  bool close_after_write = false;
  bool in_answered = false;  // listed in RespServer::answered_
  // Per-connection order, as Redis gives it: a read waits for this client's
  // earlier writes, and everything after a waiting read waits behind it.
  std::size_t writes_in_flight = 0;
  std::size_t reads_submitted = 0;  // handed to the node, unanswered (<= kReadsSubmittedMax)
  bool releasing = false;           // release() is on the stack (a reply may come at once)
  std::deque<std::pair<std::uint64_t, Request>> held;
  std::size_t pending_request_bytes = 0;  // arguments of unanswered requests
  std::uint64_t last_activity_ms = 0;     // last read or completed write
  std::uint64_t over_soft_since_ms = 0;   // 0: under the soft limit
  std::shared_ptr<Client> self;           // keeps the client alive until its handle closes

  std::size_t unread_bytes() const { return out_bytes + writing_bytes; }
  void queue(std::string bytes) {
    out_bytes += bytes.size();
    // Small replies share a chunk, so a pipeline of PONGs is one buffer.
    if (!out.empty() && out.back().size() + bytes.size() <= kChunkBytes)
      out.back() += bytes;
    else
      out.push_back(std::move(bytes));
  }
};

// What the reply to one submitted request must update. The closure handed
// to the node is {record, generation}: trivially copyable and 16 bytes, so
// std::function holds it inline (a closure holding these fields took an
// allocation and a free per command). A record is reused once answered; a
// generation that moved on marks a second or stale answer, ignored.
struct RespServer::PendingReply {
  RespServer* server = nullptr;
  std::uint64_t generation = 0;
  std::weak_ptr<Client> client;
  std::uint64_t seq = 0;
  std::size_t bytes = 0;
  bool write = false;
  bool read = false;
  std::shared_ptr<WatchList> watch;
  std::size_t watch_from = 0;
  std::size_t watch_count = 0;
};

RespServer::RespServer(uv_loop_t* loop, std::string listen, ClientLimits limits, Handler handler,
                       const TlsContext* tls)
    : loop_(loop),
      listen_(std::move(listen)),
      limits_(std::move(limits)),
      handler_(std::move(handler)),
      tls_(tls) {}

RespServer::~RespServer() = default;

// A read waits for this client's earlier writes (Redis's per-connection
// order) and for room under kReadsSubmittedMax.
// An EXEC also waits for the versions its WATCHes read.
bool RespServer::must_wait(const Client& c, const Request& request) {
  if (request.op == Op::txn && !c.txn.exec_ready()) return true;
  return route_of(request.op) == Route::read &&
         (c.writes_in_flight > 0 || c.reads_submitted >= kReadsSubmittedMax);
}

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
  c.slots.push_back(std::move(resp));
  c.close_after_write = true;
  if (c.tls) start_reading(c);  // the handshake must finish for the reply to go
  flush(c);
}

void RespServer::start_reading(Client& c) {
  c.reading = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c.tcp),
      [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
        static thread_local std::vector<char> scratch(64 * 1024);
        *buf = uv_buf_init(scratch.data(), static_cast<unsigned>(scratch.size()));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* client = static_cast<Client*>(s->data);
        if (n < 0) return client->server->close(*client);
        if (n > 0) client->server->on_bytes(*client, buf->base, static_cast<std::size_t>(n));
      });
}

// Bytes from the socket: decrypted first on a TLS port. Handshake bytes the
// session produced go out with the next write.
void RespServer::on_bytes(Client& c, const char* data, std::size_t n) {
  if (!c.tls) return on_read(c, data, n);
  c.plain.clear();
  if (!c.tls->feed(reinterpret_cast<const std::uint8_t*>(data), n, &c.plain)) {
    ++stats_.tls_failures;
    std::uint64_t now = uv_now(loop_);
    if (last_tls_log_ms_ == 0 || now - last_tls_log_ms_ >= 1000) {
      last_tls_log_ms_ = now;
      fmt::print(stderr, "synod-kv: client addr={} closed: {} ({} TLS failures so far)\n", c.addr,
                 c.tls->error(), stats_.tls_failures);
    }
    // A broken record mid-stream: nothing more can be said. A failed
    // handshake: its alert goes out, then the connection closes.
    if (c.tls->established()) return close(c);
    c.close_after_write = true;
    update_reading(c);
    return flush(c);
  }
  if (c.close_after_write && c.slots.empty() && c.out.empty()) {
    // A refused client: its reply went out after the handshake.
    return flush(c);
  }
  if (c.plain.empty()) return flush(c);
  on_read(c, reinterpret_cast<const char*>(c.plain.data()), c.plain.size());
}

void RespServer::on_read(Client& c, const char* data, std::size_t n) {
  c.last_activity_ms = uv_now(loop_);
  std::vector<Command> commands;
  bool ok = c.parser.feed(std::string_view(data, n), &commands);
  std::shared_ptr<Client> keep = c.self;
  for (Command& cmd : commands) {
    if (c.close_after_write) break;  // after QUIT nothing more runs
    dispatch(keep, std::move(cmd));
  }
  if (!ok && !c.close_after_write) {
    // As Redis does: answer the protocol error, then close. error() has the
    // whole text, "ERR Protocol error: ...".
    ++stats_.protocol_errors;
    c.slots.push_back("-" + c.parser.error() + "\r\n");
    c.close_after_write = true;
  }
  update_reading(c);
  flush(c);
}

void RespServer::dispatch(const std::shared_ptr<Client>& c, std::vector<std::string> args) {
  std::uint64_t seq = c->base + c->slots.size();
  c->slots.emplace_back();
  GateVerdict verdict = c->gate.check(args);
  if (verdict.auth_failure) ++stats_.acl_access_denied_auth;
  if (verdict.action != GateVerdict::Action::pass) {
    if (!c->gate.authenticated() && verdict.resp.starts_with("-NOAUTH")) ++stats_.noauth_refusals;
    c->slots.back() = std::move(verdict.resp);
    if (verdict.action == GateVerdict::Action::reply_and_close) c->close_after_write = true;
    return;
  }
  auto parsed = parse_request(std::move(args));
  if (auto* reply = std::get_if<kv::Reply>(&parsed)) {
    c->slots.back() = to_resp(c->txn.on_error(std::move(*reply)));
    return;
  }
  Request& request = std::get<Request>(parsed);
  // Outside MULTI an ordinary command passes by the session untouched.
  if (c->txn.in_multi() || route_of(request.op) == Route::session) {
    TxnSession::Step step = c->txn.on_request(std::move(request));
    if (step.over_limit) ++stats_.txn_queue_refusals;
    if (step.kind == TxnSession::Step::Kind::reply) {
      c->slots.back() = to_resp(step.reply);
      return;
    }
    if (step.watch) c->watch_targets.emplace_back(std::move(step.watch), step.watch_from);
    request = std::move(step.request);
  }
  for (const std::string& a : request.args) c->pending_request_bytes += a.size();
  if (!c->held.empty() || must_wait(*c, request)) {
    c->held.emplace_back(seq, std::move(request));
    return;
  }
  submit(c, seq, std::move(request));
}

void RespServer::submit(const std::shared_ptr<Client>& c, std::uint64_t seq, Request request) {
  bool write = route_of(request.op) == Route::write;
  bool read = route_of(request.op) == Route::read;
  if (write) ++c->writes_in_flight;
  if (read) ++c->reads_submitted;
  std::size_t bytes = 0;
  for (const std::string& a : request.args) bytes += a.size();
  // EXEC's watch block is filled now, its WATCH reads all back (must_wait).
  if (request.op == Op::txn) request.args[0] = c->txn.take_watch_block();
  std::shared_ptr<WatchList> watch;
  std::size_t watch_from = 0, watch_count = 0;
  if (request.op == Op::watch_versions && !c->watch_targets.empty()) {
    std::tie(watch, watch_from) = std::move(c->watch_targets.front());
    c->watch_targets.pop_front();
    watch_count = request.args.size();
  }
  if (free_reply_records_.empty()) {
    reply_records_.push_back(std::make_unique<PendingReply>());
    reply_records_.back()->server = this;
    free_reply_records_.push_back(reply_records_.back().get());
  }
  PendingReply* p = free_reply_records_.back();
  free_reply_records_.pop_back();
  p->client = c;
  p->seq = seq;
  p->bytes = bytes;
  p->write = write;
  p->read = read;
  p->watch = std::move(watch);
  p->watch_from = watch_from;
  p->watch_count = watch_count;
  const std::uint64_t generation = p->generation;
  auto answer = [p, generation](std::string resp) {
    if (p->generation == generation) p->server->on_reply(*p, std::move(resp));
  };
  // What lets std::function keep it inline (libstdc++: trivially copyable,
  // at most two pointers).
  static_assert(std::is_trivially_copyable_v<decltype(answer)> && sizeof(answer) <= 16);
  handler_(std::move(request), answer);
}

void RespServer::on_reply(PendingReply& p, std::string resp) {
  // Taken out and the record freed first: what follows may submit more.
  std::shared_ptr<Client> client = p.client.lock();
  std::shared_ptr<WatchList> watch = std::move(p.watch);
  const std::uint64_t seq = p.seq;
  const std::size_t bytes = p.bytes, watch_from = p.watch_from, watch_count = p.watch_count;
  const bool read = p.read, write = p.write;
  ++p.generation;
  p.client.reset();
  free_reply_records_.push_back(&p);
  if (!client || client->closing || seq < client->base) return;
  if (watch) {
    // WATCH answers OK once its versions are known; a failed read (say
    // -MOVED) is the client's answer, and its keys abort the next EXEC.
    auto versions = parse_versions_reply(resp, watch_count);
    resolve_watch(*watch, watch_from, watch_count, versions);
    if (versions) resp = "+OK\r\n";
  }
  client->slots[seq - client->base] = std::move(resp);
  client->pending_request_bytes -= bytes;
  if (read) --client->reads_submitted;
  if (write) --client->writes_in_flight;
  release(client);
  flush_soon(client);
}

void RespServer::flush_soon(const std::shared_ptr<Client>& c) {
  // Without the prepare handle (before start() or after stop()) nothing
  // would come back for the reply: written at once.
  if (!before_poll_) return flush(*c);
  if (c->in_answered) return;
  c->in_answered = true;
  answered_.push_back(c);
}

void RespServer::flush_answered() {
  // A flush may release held requests that are answered at once and list
  // their client again: taken in rounds until none is left.
  while (!answered_.empty()) {
    std::vector<std::shared_ptr<Client>> round;
    round.swap(answered_);
    for (const auto& c : round) {
      c->in_answered = false;
      flush(*c);
    }
  }
}

// Submits held requests, in order, up to the next read that must still wait.
void RespServer::release(const std::shared_ptr<Client>& c) {
  // A request answered at once calls back into release(): the loop below
  // carries on instead, so the stack does not grow with the queue.
  if (c->releasing) return;
  c->releasing = true;
  while (!c->held.empty() && !c->closing) {
    auto& [seq, request] = c->held.front();
    if (must_wait(*c, request)) break;
    std::uint64_t s = seq;
    Request r = std::move(request);
    c->held.pop_front();
    submit(c, s, std::move(r));
  }
  c->releasing = false;
}

void RespServer::update_reading(Client& c) {
  if (c.closing) return;
  const std::uint64_t soft = limits_.output_soft_bytes;
  const std::size_t unread = c.unread_bytes();
  // A TLS client still in its handshake is read until it is through, so
  // that a refusal or an alert can reach it.
  if (c.close_after_write && !(c.tls && !c.tls->established() && !c.tls->failed())) {
    if (c.reading) uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
    c.reading = false;
    return;
  }
  bool output_over = soft > 0 && unread > soft;
  if (c.reading) {
    if (output_over) ++stats_.client_output_buffer_read_pauses;
    if (output_over || c.slots.size() >= kOutstandingMax ||
        c.pending_request_bytes >= kPendingRequestBytesMax) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
      c.reading = false;
    }
  } else if (!output_over && c.slots.size() < kOutstandingMax / 2 &&
             c.pending_request_bytes < kPendingRequestBytesMax / 2) {
    start_reading(c);
  }
}

bool RespServer::output_limit_broken(Client& c) {
  const std::size_t unread = c.unread_bytes();
  const std::uint64_t now = uv_now(loop_);
  std::string why;
  if (limits_.output_hard_bytes > 0 && unread > limits_.output_hard_bytes) {
    why = fmt::format("{} bytes unread, over the hard limit of {}", unread,
                      limits_.output_hard_bytes);
  } else if (limits_.output_soft_bytes > 0 && unread > limits_.output_soft_bytes) {
    if (c.over_soft_since_ms == 0) c.over_soft_since_ms = now;
    if (now - c.over_soft_since_ms >= limits_.output_soft_seconds * 1000) {
      why = fmt::format("{} bytes unread, over the soft limit of {} for {} s", unread,
                        limits_.output_soft_bytes, (now - c.over_soft_since_ms) / 1000);
    }
  } else {
    c.over_soft_since_ms = 0;
  }
  if (why.empty()) return false;
  ++stats_.client_output_buffer_limit_disconnections;
  fmt::print(stderr,
             "synod-kv: client id={} addr={} closed for overcoming of output buffer limits "
             "({})\n",
             c.id, c.addr, why);
  close(c);
  return true;
}

// Moves answered replies, in order, into one write.
void RespServer::flush(Client& c) {
  if (c.closing) return;
  while (!c.slots.empty() && c.slots.front()) {
    c.queue(std::move(*c.slots.front()));
    c.slots.pop_front();
    ++c.base;
  }
  if (output_limit_broken(c)) return;
  update_reading(c);
  if (c.write_busy) return;
  const bool tls_output = c.tls && c.tls->has_output();
  if (c.out.empty() && !tls_output) {
    if (c.close_after_write && c.slots.empty() &&
        (!c.tls || c.tls->established() || c.tls->failed()))
      close(c);
    return;
  }
  while (!c.out.empty() && c.writing.size() < kWriteBufsMax) {
    c.out_bytes -= c.out.front().size();
    c.writing_bytes += c.out.front().size();
    c.writing.push_back(std::move(c.out.front()));
    c.out.pop_front();
  }
  std::vector<uv_buf_t> bufs;
  if (c.tls) {
    // The replies become records in one ciphertext buffer (before the
    // handshake completes the session holds them until it does).
    for (std::string& chunk : c.writing)
      if (!c.tls->write(
              std::span(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size())))
        return close(c);
    c.writing.clear();
    c.writing_bytes = 0;
    c.cipher.clear();
    c.tls->drain(&c.cipher);
    if (c.cipher.empty()) return;
    bufs.push_back(uv_buf_init(reinterpret_cast<char*>(c.cipher.data()),
                               static_cast<unsigned>(c.cipher.size())));
  } else {
    // Pointers taken once `writing` stops moving (a short string's bytes
    // live inside the string object).
    bufs.reserve(c.writing.size());
    for (std::string& chunk : c.writing)
      bufs.push_back(uv_buf_init(chunk.data(), static_cast<unsigned>(chunk.size())));
  }
  c.write_busy = true;
  c.write_req.data = &c;
  // libuv copies the buf array; the chunks stay in c.writing until done.
  uv_write(&c.write_req, reinterpret_cast<uv_stream_t*>(&c.tcp), bufs.data(),
           static_cast<unsigned>(bufs.size()), [](uv_write_t* req, int status) {
             auto* client = static_cast<Client*>(req->data);
             client->write_busy = false;
             if (status != 0) return client->server->close(*client);
             client->writing.clear();
             client->writing_bytes = 0;
             client->last_activity_ms = uv_now(client->server->loop_);
             client->server->flush(*client);
           });
}

void RespServer::on_sweep() {
  const std::uint64_t now = uv_now(loop_);
  const std::uint64_t idle_ms = limits_.idle_timeout_seconds * 1000;
  for (auto& c : std::vector<std::shared_ptr<Client>>(clients_)) {
    if (c->closing) continue;
    if (output_limit_broken(*c)) continue;
    if (c->tls && !c->tls->established() && now - c->accepted_ms >= kTlsHandshakeMs) {
      ++stats_.tls_failures;
      fmt::print(stderr, "synod-kv: client addr={} closed: no TLS handshake within {} ms\n",
                 c->addr, kTlsHandshakeMs);
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
  c.held.clear();
  c.watch_targets.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), [](uv_handle_t* h) {
    auto* client = static_cast<Client*>(h->data);
    RespServer* server = client->server;
    std::erase_if(server->clients_, [client](const auto& p) { return p.get() == client; });
    client->self.reset();  // may free the client
  });
}

}  // namespace synod::kv
