// From parsed command to the node and back: AUTH, MULTI/EXEC/WATCH glue,
// per-connection order (held requests), and the reply records handed out.
#include <tuple>
#include <type_traits>

#include "resp_server.h"
#include "resp_server_client.h"

namespace synod::kv {

using namespace resp_bounds;

namespace {

// What a request's arguments cost held (pending_request_bytes): their bytes
// and a std::string each. Counting the bytes alone let one command of a
// million empty arguments (6 MB on the wire, nothing against the limit) hold
// 32 MB, and 4096 of them held behind a read 128 GB. Both overloads give the
// same figure for the same request, owned or viewed.
constexpr std::size_t kArgumentOverheadBytes = sizeof(std::string);

std::size_t argument_bytes(std::span<const std::string_view> args) {
  std::size_t n = 0;
  for (std::string_view a : args) n += a.size() + kArgumentOverheadBytes;
  return n;
}

std::size_t argument_bytes(const std::vector<std::string>& args) {
  std::size_t n = 0;
  for (const std::string& a : args) n += a.size() + kArgumentOverheadBytes;
  return n;
}

}  // namespace

// Redis's per-connection order: a read waits for this client's earlier
// writes (and for room under kReadsSubmittedMax), and a write for its
// earlier reads. Without the second, a pipelined GET k, SET k v could answer
// v: the host applies a Ready's commits before it serves the reads that
// Ready confirmed, so a ReadIndex confirmed with the SET's commit sees the
// SET; and WATCH k, SET k v, MULTI, ..., EXEC would run, its WATCH having
// read the version after the client's own SET.
// An EXEC (a write) also waits for the versions its WATCHes read.
bool RespServer::must_wait(const Client& c, Op op) {
  if (op == Op::txn && !c.txn.exec_ready()) return true;
  switch (route_of(op)) {
    case Route::read:
      return c.writes_in_flight > 0 || c.reads_submitted >= kReadsSubmittedMax;
    case Route::write:
      return c.reads_submitted > 0;
    default:
      return false;
  }
}

void RespServer::dispatch(const std::shared_ptr<Client>& c, CommandView words) {
  std::uint64_t seq = c->base + c->slots.size();
  c->slots.emplace_back();
  GateVerdict verdict = c->gate.check(words);
  if (verdict.auth_failure) ++stats_.acl_access_denied_auth;
  if (verdict.action != GateVerdict::Action::pass) {
    if (!c->gate.authenticated() && verdict.resp.starts_with("-NOAUTH")) ++stats_.noauth_refusals;
    c->answer_last(std::move(verdict.resp));
    if (verdict.action == GateVerdict::Action::reply_and_close) c->close_after_write = true;
    return;
  }
  auto parsed = parse_request(words);
  if (auto* reply = std::get_if<kv::Reply>(&parsed)) {
    c->answer_last(to_resp(c->txn.on_error(std::move(*reply))));
    return;
  }
  const RequestRef& request = std::get<RequestRef>(parsed);
  // Outside MULTI an ordinary command passes by the session untouched.
  if (c->txn.in_multi() || route_of(request.op) == Route::session) {
    TxnSession::Step step = c->txn.on_request(request.own());
    if (step.over_limit) ++stats_.txn_queue_refusals;
    if (step.kind == TxnSession::Step::Kind::reply) {
      c->answer_last(to_resp(step.reply));
      return;
    }
    if (step.watch) c->watch_targets.emplace_back(std::move(step.watch), step.watch_from);
    return admit(c, seq, std::move(step.request));
  }
  // The common case: handled now, its arguments still views into the read.
  const std::size_t bytes = argument_bytes(request.args);
  c->pending_request_bytes += bytes;
  if (!c->held.empty() || must_wait(*c, request.op)) {
    c->held.emplace_back(seq, request.own());
    return;
  }
  submit(c, seq, request, bytes);
}

void RespServer::admit(const std::shared_ptr<Client>& c, std::uint64_t seq, Request request) {
  c->pending_request_bytes += argument_bytes(request.args);
  if (!c->held.empty() || must_wait(*c, request.op)) {
    c->held.emplace_back(seq, std::move(request));
    return;
  }
  submit_owned(c, seq, std::move(request));
}

void RespServer::submit_owned(const std::shared_ptr<Client>& c, std::uint64_t seq,
                              Request request) {
  // Counted as admitted (pending_request_bytes), before EXEC's watch block
  // is filled in below.
  const std::size_t bytes = argument_bytes(request.args);
  // EXEC's watch block is filled now, its WATCH reads all back (must_wait).
  if (request.op == Op::txn) request.args[0] = c->txn.take_watch_block();
  RequestViews views(request);
  submit(c, seq, views.ref(), bytes);
}

void RespServer::submit(const std::shared_ptr<Client>& c, std::uint64_t seq,
                        const RequestRef& request, std::size_t bytes) {
  bool write = route_of(request.op) == Route::write;
  bool read = route_of(request.op) == Route::read;
  if (write) ++c->writes_in_flight;
  if (read) ++c->reads_submitted;
  std::shared_ptr<WatchList> watch;
  std::size_t watch_from = 0, watch_count = 0;
  if (request.op == Op::watch_versions && !c->watch_targets.empty()) {
    std::tie(watch, watch_from) = std::move(c->watch_targets.front());
    c->watch_targets.pop_front();
    watch_count = request.args.size();
  }
  if (free_reply_records_.empty()) {
    reply_records_.push_back(std::make_unique<PendingReply>());
    reply_records_.back()->index = static_cast<std::uint32_t>(reply_records_.size() - 1);
    free_reply_records_.push_back(reply_records_.back().get());
  }
  PendingReply* p = free_reply_records_.back();
  free_reply_records_.pop_back();
  p->client = c.get();
  ++c->records;
  p->seq = seq;
  p->bytes = bytes;
  p->write = write;
  p->read = read;
  p->watch = std::move(watch);
  p->watch_from = watch_from;
  p->watch_count = watch_count;
  handler_.handle(request, ReplyTo{p->index, p->generation});
}

RespServer::Reply RespServer::reply_function(ReplyTo to) {
  auto answer_to = [this, to](std::string resp) { answer(to, std::move(resp)); };
  // What lets std::function keep it inline (libstdc++: trivially copyable,
  // at most two pointers).
  static_assert(std::is_trivially_copyable_v<decltype(answer_to)> && sizeof(answer_to) <= 16);
  return answer_to;
}

void RespServer::answer(ReplyTo to, std::string_view resp) {
  if (to.record >= reply_records_.size()) return;
  PendingReply& p = *reply_records_[to.record];
  if (p.generation == to.generation) on_reply(p, resp, nullptr);
}

void RespServer::answer(ReplyTo to, std::string&& resp) {
  if (to.record >= reply_records_.size()) return;
  PendingReply& p = *reply_records_[to.record];
  if (p.generation == to.generation) on_reply(p, resp, &resp);
}

void RespServer::on_reply(PendingReply& p, std::string_view resp, std::string* owned) {
  // Taken out and the record freed first: what follows may submit more.
  Client* client = p.client;
  std::shared_ptr<WatchList> watch = std::move(p.watch);
  const std::uint64_t seq = p.seq;
  const std::size_t bytes = p.bytes, watch_from = p.watch_from, watch_count = p.watch_count;
  const bool read = p.read, write = p.write;
  ++p.generation;
  p.client = nullptr;
  free_reply_records_.push_back(&p);
  --client->records;
  if (client->closing || seq < client->base) {
    if (client->closed && client->records == 0) client->self.reset();  // frees the client
    return;
  }
  if (watch) {
    // WATCH answers OK once its versions are known; a failed read (say
    // -MOVED) is the client's answer, and its keys abort the next EXEC.
    auto versions = parse_versions_reply(resp, watch_count);
    resolve_watch(*watch, watch_from, watch_count, versions);
    if (versions) {
      resp = "+OK\r\n";
      owned = nullptr;
    }
  }
  if (seq == client->base) {
    // Nothing before it is unanswered: straight into the output, without a
    // string of its own in the reply slots.
    client->slots.pop_front();
    ++client->base;
    client->queue(resp, owned);
  } else {
    client->answer(seq - client->base, owned ? std::move(*owned) : std::string(resp));
  }
  // Over the hard limit the client goes now, before the rest of the replies
  // confirmed with this one are built.
  if (output_limit_broken(*client)) return;
  client->pending_request_bytes -= bytes;
  if (read) --client->reads_submitted;
  if (write) --client->writes_in_flight;
  // Not closing, so self is set until the handle's close callback, which
  // runs from the loop, not from anything called here.
  const std::shared_ptr<Client>& c = client->self;
  release(c);
  flush_soon(c);
}

// Submits held requests, in order, up to the next one that must still wait.
void RespServer::release(const std::shared_ptr<Client>& c) {
  // A request answered at once calls back into release(): the loop below
  // carries on instead, so the stack does not grow with the queue.
  if (c->releasing) return;
  c->releasing = true;
  while (!c->held.empty() && !c->closing) {
    auto& [seq, request] = c->held.front();
    if (must_wait(*c, request.op)) break;
    std::uint64_t s = seq;
    Request r = std::move(request);
    c->held.pop_front();
    submit_owned(c, s, std::move(r));
  }
  c->releasing = false;
}

}  // namespace synod::kv
