// The Redis-protocol front end of synod-kv: accepts clients on libuv TCP,
// parses pipelined requests, hands each to the node, and writes replies in
// request order (a consensus write answered late holds back the replies to
// the local commands pipelined after it).
//
// It also keeps clients from taking the server over (docs/kv.md, "Limits
// and authentication"): AUTH before anything else when a password is set,
// protected mode, maxclients, the output buffer limit, idle timeouts, and
// early refusal of a bulk longer than any command the log accepts. Each
// limit counts what it refused (stats()).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client_limits.h"
#include "kv_command.h"
#include "synod/status.h"

namespace synod {
class TlsContext;
}

namespace synod::kv {

// What the limits refused or closed; INFO's "stats" section, Redis's names
// where Redis counts the same thing.
struct ClientStats {
  std::uint64_t total_connections_received = 0;
  std::uint64_t rejected_connections = 0;     // over maxclients
  std::uint64_t protected_mode_refusals = 0;  // non-loopback, no password
  std::uint64_t accept_failures = 0;          // accept() failed (EMFILE, ENFILE, ...)
  std::uint64_t client_output_buffer_limit_disconnections = 0;
  std::uint64_t client_output_buffer_read_pauses = 0;  // reads paused over the soft limit
  std::uint64_t client_timeouts = 0;                   // idle past --timeout
  std::uint64_t protocol_errors = 0;                   // malformed or oversize requests
  std::uint64_t acl_access_denied_auth = 0;            // wrong AUTH / HELLO AUTH password
  std::uint64_t noauth_refusals = 0;                   // commands refused before AUTH
  std::uint64_t tls_failures = 0;        // TLS handshakes that failed or did not finish in time
  std::uint64_t txn_queue_refusals = 0;  // commands over a MULTI queue's bounds (txn_session.h)
};

// Where the answer to one request goes (RespServer::answer): its reply
// record and the record's generation. Eight bytes and trivially copyable, so
// a callback holding one and a pointer fits std::function's inline storage:
// answering a request allocates nothing.
struct ReplyTo {
  std::uint32_t record = 0;
  std::uint32_t generation = 0;
};

// What the server hands each request to (KvNode, ShardNode).
class RespHandler {
 public:
  // Called once per request. Answer it with RespServer::answer(to, ...),
  // during this call or later from the loop, or never if the node shuts
  // down. The request's arguments are views valid during this call only
  // (into the client's read buffer, mostly): copy what must outlive it
  // (RequestRef::own(), or the log encoding).
  virtual void handle(const RequestRef& request, ReplyTo to) = 0;

 protected:
  ~RespHandler() = default;
};

class RespServer {
 public:
  // An answer as a callable, for code that keeps std::function callbacks
  // (ShardNode, ClusterAdmin): 16 bytes, held without allocating.
  using Reply = std::function<void(std::string resp)>;

  // `tls` (may be null: plaintext) is the client port's TLS context, owned
  // by the caller and outliving the server, as `handler` does.
  RespServer(uv_loop_t* loop, std::string listen, ClientLimits limits, RespHandler& handler,
             const TlsContext* tls = nullptr);
  ~RespServer();

  // The RESP bytes answering the request behind `to`. A second or stale
  // answer (a record reused since) is ignored, as is one for a client that
  // has gone. In request order, answers go straight into the client's
  // output; one that overtook an earlier request waits for it.
  void answer(ReplyTo to, std::string_view resp);
  void answer(ReplyTo to, std::string&& resp);
  void answer(ReplyTo to, const char* resp) { answer(to, std::string_view(resp)); }
  Reply reply_function(ReplyTo to);

  Status start(std::string* why);
  // Closes the listener and every client; run the loop afterwards.
  void stop();
  std::size_t clients() const { return clients_.size(); }
  const ClientStats& stats() const { return stats_; }
  // INFO's "clients" and "stats" sections.
  std::vector<InfoSection> info() const;

  struct Client;
  struct PendingReply;

 private:
  void on_connection(int status);
  void refuse(Client& c, std::string resp);
  void start_reading(Client& c);
  void on_bytes(Client& c, const char* data, std::size_t n);
  void on_read(Client& c, const char* data, std::size_t n);
  // One parsed command: the gate, the transaction session, then the node
  // at once or held behind what it must wait for.
  void dispatch(const std::shared_ptr<Client>& c, CommandView words);
  // A request that has been copied (a MULTI step, EXEC, WATCH): held or
  // submitted, as dispatch() does for the others.
  void admit(const std::shared_ptr<Client>& c, std::uint64_t seq, Request request);
  // `bytes`: the request's argument bytes as admitted (pending_request_bytes).
  void submit(const std::shared_ptr<Client>& c, std::uint64_t seq, const RequestRef& request,
              std::size_t bytes);
  void submit_owned(const std::shared_ptr<Client>& c, std::uint64_t seq, Request request);
  // A node's answer to the request behind record `p` (submit()): `resp`,
  // which *owned holds when it may be moved from (else null).
  void on_reply(PendingReply& p, std::string_view resp, std::string* owned);
  void release(const std::shared_ptr<Client>& c);
  static bool must_wait(const Client& c, Op op);
  void flush(Client& c);
  // A reply from the node: written once this loop iteration's answers are
  // all in (flush_answered(), before the loop polls again), so a batch of
  // pipelined replies goes out in one write, not one per command.
  void flush_soon(const std::shared_ptr<Client>& c);
  void flush_answered();
  // Pauses or resumes reading from c as its backlog says.
  void update_reading(Client& c);
  // Closes c if its unread replies broke the output buffer limit.
  bool output_limit_broken(Client& c);
  void on_sweep();  // once a second: idle timeouts, the soft limit's clock
  void close(Client& c);

  uv_loop_t* loop_;
  std::string listen_;
  ClientLimits limits_;
  RespHandler& handler_;
  uv_tcp_t* listener_ = nullptr;
  uv_timer_t* sweep_ = nullptr;
  uv_prepare_t* before_poll_ = nullptr;            // runs flush_answered()
  std::vector<std::shared_ptr<Client>> answered_;  // clients with replies to write
  std::vector<std::shared_ptr<Client>> clients_;
  // Records of requests handed to the node and not answered, reused: at
  // most as many as were ever in flight at once (bounded per client by
  // kOutstandingMax). Owned here, so a reply that never comes leaks nothing.
  // ReplyTo::record indexes this.
  std::vector<std::unique_ptr<PendingReply>> reply_records_;
  std::vector<PendingReply*> free_reply_records_;
  std::uint64_t next_client_id_ = 1;
  std::uint64_t last_accept_log_ms_ = 0;
  ClientStats stats_;
  const TlsContext* tls_ = nullptr;
  std::uint64_t last_tls_log_ms_ = 0;
};

}  // namespace synod::kv
