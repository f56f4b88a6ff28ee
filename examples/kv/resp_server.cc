#include "resp_server.h"

#include <fmt/format.h>

#include <deque>
#include <optional>

#include "synod/tcp_address.h"
#include "resp_parser.h"

namespace synod::kv {

namespace {
// Beyond this many unanswered requests a client's reads pause: a pipelining
// client cannot make the server buffer without bound.
constexpr std::size_t kOutstandingMax = 4096;
}  // namespace

struct RespServer::Client {
  RespServer* server = nullptr;
  uv_tcp_t tcp{};
  uv_write_t write_req{};
  RequestParser parser;
  // Replies in request order. Invariant: slots_[i] answers request base_ + i.
  std::deque<std::optional<std::string>> slots;
  std::uint64_t base = 0;
  std::string out;      // ready bytes not yet written
  std::string writing;  // the bytes of the write in flight
  bool write_busy = false;
  bool reading = true;
  bool closing = false;
  bool close_after_write = false;
  // Per-connection order, as Redis gives it: a read waits for this client's
  // earlier writes, and everything after a waiting read waits behind it.
  std::size_t writes_in_flight = 0;
  std::deque<std::pair<std::uint64_t, Request>> held;
  std::shared_ptr<Client> self;  // keeps the client alive until its handle closes
};

RespServer::RespServer(uv_loop_t* loop, std::string listen, Handler handler)
    : loop_(loop), listen_(std::move(listen)), handler_(std::move(handler)) {}

RespServer::~RespServer() = default;

Status RespServer::start(std::string* why) {
  sockaddr_storage addr{};
  if (!parse_address(listen_, &addr, why)) return Status::invalid_config;
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 511, [](uv_stream_t* s, int status) {
      if (status == 0) static_cast<RespServer*>(s->data)->on_connection();
    });
  if (rc != 0) {
    *why = fmt::format("cannot listen on {}: {}", listen_, uv_strerror(rc));
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
    return Status::unavailable;
  }
  return Status::ok;
}

void RespServer::stop() {
  if (listener_) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
  }
  for (auto& c : std::vector<std::shared_ptr<Client>>(clients_)) close(*c);
}

void RespServer::on_connection() {
  auto c = std::make_shared<Client>();
  c->server = this;
  c->self = c;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c.get();
  clients_.push_back(c);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_),
                reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close(*c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  start_reading(*c);
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
        if (n > 0) client->server->on_read(*client, buf->base, static_cast<std::size_t>(n));
      });
}

void RespServer::on_read(Client& c, const char* data, std::size_t n) {
  std::vector<Command> commands;
  bool ok = c.parser.feed(std::string_view(data, n), &commands);
  std::shared_ptr<Client> keep = c.self;
  for (Command& cmd : commands) dispatch(keep, std::move(cmd));
  if (!ok) {
    // As Redis does: answer the protocol error, then close.
    c.slots.push_back("-ERR Protocol error: " + c.parser.error() + "\r\n");
    c.close_after_write = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
    c.reading = false;
  } else if (c.slots.size() >= kOutstandingMax && c.reading) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
    c.reading = false;
  }
  flush(c);
}

void RespServer::dispatch(const std::shared_ptr<Client>& c, std::vector<std::string> args) {
  std::uint64_t seq = c->base + c->slots.size();
  c->slots.emplace_back();
  auto parsed = parse_request(std::move(args));
  if (auto* reply = std::get_if<kv::Reply>(&parsed)) {
    c->slots.back() = to_resp(*reply);
    return;
  }
  Request& request = std::get<Request>(parsed);
  if (!c->held.empty() || (route_of(request.op) == Route::read && c->writes_in_flight > 0)) {
    c->held.emplace_back(seq, std::move(request));
    return;
  }
  submit(c, seq, std::move(request));
}

void RespServer::submit(const std::shared_ptr<Client>& c, std::uint64_t seq, Request request) {
  bool write = route_of(request.op) == Route::write;
  if (write) ++c->writes_in_flight;
  std::weak_ptr<Client> weak = c;
  handler_(std::move(request), [weak, seq, write](std::string resp) {
    auto client = weak.lock();
    if (!client || client->closing || seq < client->base) return;
    client->slots[seq - client->base] = std::move(resp);
    if (write) {
      --client->writes_in_flight;
      client->server->release(client);
    }
    client->server->flush(*client);
  });
}

// Submits held requests, in order, up to the next read that must still wait.
void RespServer::release(const std::shared_ptr<Client>& c) {
  while (!c->held.empty()) {
    auto& [seq, request] = c->held.front();
    if (route_of(request.op) == Route::read && c->writes_in_flight > 0) return;
    std::uint64_t s = seq;
    Request r = std::move(request);
    c->held.pop_front();
    submit(c, s, std::move(r));
  }
}

// Moves answered replies, in order, into one write.
void RespServer::flush(Client& c) {
  while (!c.slots.empty() && c.slots.front()) {
    c.out += *c.slots.front();
    c.slots.pop_front();
    ++c.base;
  }
  if (!c.reading && !c.close_after_write && !c.closing && c.slots.size() < kOutstandingMax / 2) {
    start_reading(c);
  }
  if (c.write_busy || c.closing) return;
  if (c.out.empty()) {
    if (c.close_after_write && c.slots.empty()) close(c);
    return;
  }
  c.writing.swap(c.out);
  c.out.clear();
  c.write_busy = true;
  c.write_req.data = &c;
  uv_buf_t buf = uv_buf_init(c.writing.data(), static_cast<unsigned>(c.writing.size()));
  uv_write(&c.write_req, reinterpret_cast<uv_stream_t*>(&c.tcp), &buf, 1,
           [](uv_write_t* req, int status) {
             auto* client = static_cast<Client*>(req->data);
             client->write_busy = false;
             if (status != 0) return client->server->close(*client);
             client->server->flush(*client);
           });
}

void RespServer::close(Client& c) {
  if (c.closing) return;
  c.closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), [](uv_handle_t* h) {
    auto* client = static_cast<Client*>(h->data);
    RespServer* server = client->server;
    std::erase_if(server->clients_, [client](const auto& p) { return p.get() == client; });
    client->self.reset();  // may free the client
  });
}

}  // namespace synod::kv
