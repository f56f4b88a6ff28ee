// Client input: socket reads (through TLS when the port has it), the RESP
// parser, and pausing reads while a client has too much outstanding.
#include <fmt/format.h>

#include "resp_server.h"
#include "resp_server_client.h"

namespace synod::kv {

using namespace resp_bounds;

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

// Each command as the parser completes it, its words views into the bytes
// just read: handled (or copied, when it must wait) before they move.
void RespServer::on_read(Client& c, const char* data, std::size_t n) {
  c.last_activity_ms = uv_now(loop_);
  struct Dispatch final : CommandSink {
    RespServer* server;
    std::shared_ptr<Client> client;  // alive until the feed is over, closed or not
    Dispatch(RespServer* s, std::shared_ptr<Client> c) : server(s), client(std::move(c)) {}
    bool command(CommandView words) override {
      // After QUIT (or a close) nothing more runs.
      if (client->close_after_write || client->closing) return false;
      server->dispatch(client, words);
      return true;
    }
  } sink(this, c.self);
  bool ok = c.parser.feed(std::string_view(data, n), sink);
  if (!ok && !c.close_after_write && !c.closing) {
    // As Redis does: answer the protocol error, then close. error() has the
    // whole text, "ERR Protocol error: ...".
    ++stats_.protocol_errors;
    c.push_answer("-" + c.parser.error() + "\r\n");
    c.close_after_write = true;
  }
  update_reading(c);
  flush(c);
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

}  // namespace synod::kv
