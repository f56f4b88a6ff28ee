// Reply writing: answered replies in request order into one write per
// client per loop iteration, and the output buffer limits.
#include <fmt/format.h>

#include "resp_server.h"
#include "resp_server_client.h"

namespace synod::kv {

using namespace resp_bounds;

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

// Moves answered replies, in order, into one write.
void RespServer::flush(Client& c) {
  if (c.closing) return;
  while (!c.slots.empty() && c.slots.front()) {
    c.answered_bytes -= c.slots.front()->size();
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
  // Reused: one flush at a time (the loop's thread), and a write copies it.
  thread_local std::vector<uv_buf_t> bufs;
  bufs.clear();
  std::size_t total = 0;
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
    total = c.cipher.size();
  } else {
    // Pointers taken once `writing` stops moving (a short string's bytes
    // live inside the string object).
    for (std::string& chunk : c.writing)
      bufs.push_back(uv_buf_init(chunk.data(), static_cast<unsigned>(chunk.size())));
    total = c.writing_bytes;
  }
  // Tried at once, without a request: a uv_write that completes leaves the
  // client's watcher to be re-armed with one more epoll_ctl at the next
  // poll, a third system call beside each read and write of a pipelined
  // batch (docs/benchmarks.md, "synod-kv"). What the socket does not take
  // goes by uv_write.
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.tcp);
  const int sent = uv_try_write(stream, bufs.data(), static_cast<unsigned>(bufs.size()));
  if (sent >= 0 && static_cast<std::size_t>(sent) == total) {
    // As the completion below would, at once.
    c.writing.clear();
    c.writing_bytes = 0;
    c.last_activity_ms = uv_now(loop_);
    return flush(c);  // the chunks past kWriteBufsMax, or the close after a last reply
  }
  if (sent < 0 && sent != UV_EAGAIN) return close(c);
  std::size_t first = 0;
  for (std::size_t skip = sent > 0 ? static_cast<std::size_t>(sent) : 0; skip > 0;) {
    if (skip >= bufs[first].len) {
      skip -= bufs[first++].len;
    } else {
      bufs[first].base += skip;
      bufs[first].len -= static_cast<unsigned>(skip);
      skip = 0;
    }
  }
  c.write_busy = true;
  c.write_req.data = &c;
  // libuv copies the buf array; the chunks stay in c.writing until done.
  uv_write(&c.write_req, stream, bufs.data() + first, static_cast<unsigned>(bufs.size() - first),
           [](uv_write_t* req, int status) {
             auto* client = static_cast<Client*>(req->data);
             client->write_busy = false;
             if (status != 0) return client->server->close(*client);
             client->writing.clear();
             client->writing_bytes = 0;
             client->last_activity_ms = uv_now(client->server->loop_);
             client->server->flush(*client);
           });
}

bool RespServer::output_limit_broken(Client& c) {
  const std::size_t unread = c.unread_bytes();
  // Checked after every answer: under both limits and not timing the soft
  // one, there is nothing to do.
  if ((limits_.output_hard_bytes == 0 || unread <= limits_.output_hard_bytes) &&
      (limits_.output_soft_bytes == 0 || unread <= limits_.output_soft_bytes) &&
      c.over_soft_since_ms == 0)
    return false;
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

}  // namespace synod::kv
