// The Redis-protocol front end of synod-kv: accepts clients on libuv TCP,
// parses pipelined requests, hands each to the node, and writes replies in
// request order (a consensus write answered late holds back the replies to
// the local commands pipelined after it).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kv_command.h"
#include "synod/status.h"

namespace synod::kv {

class RespServer {
 public:
  // Called once per request; `reply` takes RESP bytes and may be called later
  // (from the loop), or never if the node shuts down.
  using Reply = std::function<void(std::string resp)>;
  using Handler = std::function<void(Request request, Reply reply)>;

  RespServer(uv_loop_t* loop, std::string listen, Handler handler);
  ~RespServer();

  Status start(std::string* why);
  // Closes the listener and every client; run the loop afterwards.
  void stop();
  std::size_t clients() const { return clients_.size(); }

  struct Client;

 private:
  void on_connection();
  void start_reading(Client& c);
  void on_read(Client& c, const char* data, std::size_t n);
  void dispatch(const std::shared_ptr<Client>& c, std::vector<std::string> args);
  void submit(const std::shared_ptr<Client>& c, std::uint64_t seq, Request request);
  void release(const std::shared_ptr<Client>& c);
  void flush(Client& c);
  void close(Client& c);

  uv_loop_t* loop_;
  std::string listen_;
  Handler handler_;
  uv_tcp_t* listener_ = nullptr;
  std::vector<std::shared_ptr<Client>> clients_;
};

}  // namespace synod::kv
