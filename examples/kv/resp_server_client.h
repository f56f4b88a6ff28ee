// Private to the RespServer files (resp_server*.cc): one client
// connection's state and the record of a request handed to the node, with
// the bounds they keep. Not part of synod-kv's interface.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client_auth.h"
#include "resp_parser.h"
#include "resp_server.h"
#include "tls_session.h"
#include "txn_session.h"

namespace synod::kv::resp_bounds {
// Beyond this many unanswered requests a client's reads pause: a pipelining
// client cannot make the server buffer without bound.
inline constexpr std::size_t kOutstandingMax = 4096;
// Likewise for the bytes of the requests it has in flight (4096 SETs of 1
// MiB would otherwise be 4 GiB of arguments held for one client).
inline constexpr std::size_t kPendingRequestBytesMax = 32u << 20;
// Reads of one client handed to the node and not yet answered, at most; the
// rest wait in order. Once a client is closed (say, over its output buffer
// limit) the node still answers what it was handed, so this bounds the work
// wasted on it: 2000 pipelined GETs of 1 MB would otherwise copy 4 GB after
// the close and stall the loop past an election timeout. Writes are not
// capped: their replies are small, and a deep pipeline of them is what fills
// a group commit (32 writes in flight cut one client's -P 256 SETs on a
// durable log from 49k/s to 10k/s).
inline constexpr std::size_t kReadsSubmittedMax = 32;
inline constexpr std::uint64_t kSweepMs = 1000;
inline constexpr std::size_t kChunkBytes = 64 * 1024;
// Buffers handed to one uv_write, at most.
inline constexpr std::size_t kWriteBufsMax = 256;
// A TLS client that has not finished its handshake by then is closed (a
// half-open handshake would otherwise hold a client slot for ever).
inline constexpr std::uint64_t kTlsHandshakeMs = 10'000;
// Commands one connection may queue between MULTI and EXEC (the bytes are
// bounded by the longest command the log takes).
inline constexpr std::size_t kTxnCommandsMax = 10000;
}  // namespace synod::kv::resp_bounds

namespace synod::kv {

struct RespServer::Client {
  Client(RespServer* s, ParserLimits parser_limits, std::uint64_t client_id)
      : server(s),
        parser(parser_limits),
        id(client_id),
        gate(&s->limits_.password, client_id),
        txn(TxnLimits{resp_bounds::kTxnCommandsMax, s->limits_.command_bytes_max}) {}

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
  // Bytes of the replies in slots, answered but not yet queued: they count
  // towards the output buffer limits, or replies confirmed together (a
  // pipeline of large GETs) could all be built before the limit is checked.
  std::size_t answered_bytes = 0;
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
  std::size_t pending_request_bytes = 0;  // arguments of unanswered requests, and a string each
  std::uint64_t last_activity_ms = 0;     // last read or completed write
  std::uint64_t over_soft_since_ms = 0;   // 0: under the soft limit
  // Keeps the client alive until its handle has closed and no reply record
  // names it any more (records): a record holds a plain pointer, so that
  // answering a request costs no atomic reference counting.
  std::shared_ptr<Client> self;
  std::size_t records = 0;  // PendingReply records naming this client, unanswered
  bool closed = false;      // the handle's close callback has run

  std::size_t unread_bytes() const { return answered_bytes + out_bytes + writing_bytes; }
  // The reply to request base + i (slots[i] was left empty for it).
  void answer(std::size_t i, std::string resp) {
    answered_bytes += resp.size();
    slots[i] = std::move(resp);
  }
  void answer_last(std::string resp) { answer(slots.size() - 1, std::move(resp)); }
  void push_answer(std::string resp) {
    slots.emplace_back();
    answer_last(std::move(resp));
  }
  // Ready bytes, after everything queued before: `bytes`, which *owned
  // holds when it may be moved from (else null).
  void queue(std::string_view bytes, std::string* owned) {
    out_bytes += bytes.size();
    // Small replies share a chunk, so a pipeline of PONGs is one buffer.
    if (!out.empty() && out.back().size() + bytes.size() <= resp_bounds::kChunkBytes)
      out.back().append(bytes);
    else if (owned)
      out.push_back(std::move(*owned));
    else
      out.emplace_back(bytes);
  }
  void queue(std::string bytes) { queue(bytes, &bytes); }
};

// What the reply to one submitted request must update. The node is handed
// ReplyTo{index, generation}, not a closure holding these fields (that took
// an allocation and a free per command). A record is reused once answered;
// a generation that moved on marks a second or stale answer, ignored (a
// 32-bit generation wraps after 4 billion uses of one record: a stale
// answer would have to wait that long to be taken for a live one).
struct RespServer::PendingReply {
  std::uint32_t index = 0;  // in RespServer::reply_records_
  std::uint32_t generation = 0;
  Client* client = nullptr;  // alive while this names it (Client::records)
  std::uint64_t seq = 0;
  std::size_t bytes = 0;
  bool write = false;
  bool read = false;
  std::shared_ptr<WatchList> watch;
  std::size_t watch_from = 0;
  std::size_t watch_count = 0;
};

}  // namespace synod::kv
