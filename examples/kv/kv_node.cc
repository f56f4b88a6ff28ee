#include "kv_node.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "client_port.h"
#include "kv_command_codec.h"
#include "persistence_info.h"
#include "refusal.h"
#include "synod/log_storage.h"
#include "synod/memory_storage.h"
#include "synod/seed.h"
#include "tls_context.h"

namespace synod::kv {
namespace {

// Below both, a snapshot image is taken on the loop: sorting and copying
// this much costs a few ms.
constexpr std::uint64_t kSerialiseOffLoopAboveBytes = 16u << 20;
constexpr std::size_t kSerialiseOffLoopAboveKeys = 50000;

}  // namespace

KvNode::KvNode(uv_loop_t* loop, ServerOptions options) : loop_(loop), opt_(std::move(options)) {
  store_.set_snapshot_format(opt_.snapshot_format);
}
KvNode::~KvNode() = default;

bool KvNode::open_storage(std::string* why) {
  if (opt_.memory) {
    storage_ = std::make_unique<MemoryStorage>(false);
    return true;
  }
  // Segments zeroed ahead: an fdatasync then writes the data alone, no
  // extent conversion and inode write with it (docs/storage.md,
  // "Preallocation").
  LogOptions log_options;
  log_options.preallocation = Preallocation::write_zeros;
  // Its own snapshots written on the log's snapshot thread, not in front of
  // the next batch (docs/storage.md, "Snapshots behind the log").
  log_options.snapshots_behind = true;
  // --log-format 2: compacted segments recycled rather than zeroed anew.
  log_options.recycle_segments = opt_.log_format == 2;
  auto opened = LogStorage::open(opt_.data_dir, log_options);
  if (!opened.ok()) {
    *why = fmt::format("cannot open the log in {}: {}", opt_.data_dir, opened.error);
    return false;
  }
  if (!opened.report.truncation_reason.empty())
    fmt::print(stderr, "synod-kv: recovered {}, cut a torn tail at {}:{} ({})\n", opt_.data_dir,
               opened.report.truncated_file, opened.report.truncated_at_offset,
               opened.report.truncation_reason);
  log_ = opened.storage.get();
  storage_ = std::move(opened.storage);
  return true;
}

UvHostOptions KvNode::host_options() {
  UvHostOptions h;
  h.config.id = opt_.id;
  h.config.group = GroupId{opt_.cluster_id};
  for (const Peer& p : opt_.peers) {
    // A joining node is a learner beside the current members: it never votes
    // or campaigns until the leader's log makes it a voter.
    if (opt_.join && p.id == opt_.id)
      h.config.learners.push_back(p.id);
    else
      h.config.voters.push_back(p.id);
  }
  h.config.election_ticks = opt_.election_ticks;
  // Heartbeats ten times per election timeout (etcd's ratio): a lost or
  // late one or two never cost the leadership, and the leader resends an
  // unanswered accept only after two heartbeat periods, so acks slowed by a
  // busy follower do not turn into a storm of resent batches.
  h.config.heartbeat_ticks = std::max<std::uint32_t>(1, opt_.election_ticks / 10);
  h.config.seed = synod::startup_seed(opt_.id);
  // A restarted process whose storage is empty (in-memory, or a lost data
  // dir) must rejoin before voting; a brand-new cluster is detected as such.
  // A joining node's cluster has certainly run before.
  h.config.join_existing = !opt_.bootstrap;
  h.tick_ms = opt_.tick_ms;
  // The key space is rebuilt from the snapshot and the log at every start
  // (Config::applied stays 0), so committed SETs may apply, and be answered,
  // while the writer syncs the Ready that brought their commit.
  h.apply_before_durable = true;
  // A follower syncs its batches on the loop: no wake-up of the log writer
  // and back per batch (UvHostOptions::follower_syncs_on_loop).
  h.follower_syncs_on_loop = true;
  // So does a one-node cluster's leader: its group commit then takes what
  // arrived during the last sync, as Redis's appendfsync always does
  // (UvHostOptions::sole_voter_syncs_on_loop).
  h.sole_voter_syncs_on_loop = true;
  h.apply = [this](Slot, std::string_view command) {
    std::string reply = to_resp(store_.apply(command));
    addresses_maybe_changed();
    return reply;
  };
  // Each batch's key table loads start a few commands ahead of its applies
  // (KvStore::prefetch): over a key space no cache holds, a follower spent
  // about a quarter of its CPU waiting for them one after another.
  h.before_apply = [this](CommandsView commands) { store_.prefetch(commands); };
  h.config.compaction_tail = opt_.compaction_tail;
  h.config.compaction_tail_bytes = opt_.compaction_tail_bytes;
  h.config.lease_reads = opt_.lease_reads;
  h.snapshot_every_bytes = opt_.snapshot_bytes;
  // The image is serialised on a worker thread from a frozen store
  // (threaded_snapshot.h): the loop never walks the key space.
  h.snapshot_begin = [this](Slot slot) { begin_snapshot(slot); };
  h.restore = [this](const Snapshot& snap) {
    // The bytes passed the storage's or the wire's checksum: a snapshot
    // that does not parse is a bug, and serving from a half state is worse
    // than stopping.
    if (!store_.restore(*snap.data)) {
      fmt::print(stderr, "synod-kv: node {}: the snapshot of slot {} does not parse; stopping\n",
                 opt_.id.value, snap.meta.slot.value);
      std::abort();
    }
    fmt::print(stderr, "synod-kv: node {}: restored the snapshot of slot {} ({} keys)\n",
               opt_.id.value, snap.meta.slot.value, store_.key_count());
    addresses_maybe_changed();
  };
  h.on_membership = [this](const Membership& m) { admin_->on_membership(m); };
  h.log = [this](std::string_view line) { host_log(line); };
  return h;
}

bool KvNode::start(std::string* why) {
  if (!open_storage(why)) return false;
  TcpTransportOptions t;
  t.self = opt_.id;
  t.cluster_id = opt_.cluster_id;
  t.tls = opt_.tls;
  for (const Peer& p : opt_.peers) {
    if (p.id == opt_.id)
      t.listen_address = p.address;
    else
      t.peers.push_back(p);
  }
  transport_ = std::make_unique<TcpTransport>(loop_, t);
  // A transfer waits for the target's campaign, and the leader gives up after
  // an election timeout: twice the longest election, and a second to spare.
  std::uint64_t transfer_ms = 4 * opt_.election_ticks * opt_.tick_ms + 1000;
  admin_ = std::make_unique<ClusterAdmin>(loop_, opt_, store_, book_, *transport_, transfer_ms);
  UvHostOptions h = host_options();
  // The durable log commits in groups off the loop (HostStorage::log_writer).
  host_ = std::make_unique<UvHost>(
      loop_, log_ ? HostStorage::log_writer(*log_) : HostStorage::on_loop(*storage_), *transport_,
      h);
  admin_->set_host(host_.get());
  if (host_->start(why) != Status::ok) return false;

  if (!start_client_port(loop_, opt_, h.config.batch_bytes_max,  // the log takes no longer command
                         *this, &client_tls_, &resp_, why))
    return false;
  fmt::print(stderr, "synod-kv: node {} serving Redis clients on {} ({} storage, {}{}{})\n",
             opt_.id.value, opt_.listen,
             opt_.memory ? "in-memory" : "durable log in " + opt_.data_dir,
             opt_.tls.enabled() ? "peer links over mutual TLS" : "plaintext peer links",
             opt_.tls_clients ? ", clients over TLS" : "",
             opt_.join ? "; joining: a learner until CLUSTER ADDNODE on the leader" : "");
  return true;
}

// Logs the loop's share (the freeze) and the whole time, so a snapshot's
// cost shows next to the loop stalls it may cause.
void KvNode::begin_snapshot(Slot slot) {
  // A small key space is cheaper to serialise on the loop (a few ms) than
  // to hand to a worker thread and copy its written items meanwhile.
  if (store_.data_bytes() < kSerialiseOffLoopAboveBytes &&
      store_.key_count() < kSerialiseOffLoopAboveKeys) {
    Status st = host_->compact(slot, store_.snapshot());
    if (st != Status::ok)
      fmt::print(stderr, "synod-kv: node {}: snapshot of slot {} dropped: {}\n", opt_.id.value,
                 slot.value, to_string(st));
    return;
  }
  std::uint64_t t0 = uv_hrtime();
  bool started = snapshotter_.start([this, slot, t0](std::string image) {
    if (stopped_) return;
    std::size_t bytes = image.size();
    // Refused only when a snapshot from a peer overtook it: dropped.
    Status st = host_->compact(slot, std::move(image));
    fmt::print(stderr, "synod-kv: node {}: snapshot of slot {} ({} bytes) ready after {} ms{}\n",
               opt_.id.value, slot.value, bytes, (uv_hrtime() - t0) / 1000000,
               st == Status::ok ? "" : fmt::format(", dropped: {}", to_string(st)));
  });
  if (!started) {
    fmt::print(stderr, "synod-kv: node {}: cannot take the snapshot of slot {}: one is running\n",
               opt_.id.value, slot.value);
    return host_->snapshot_abandoned();
  }
  fmt::print(stderr, "synod-kv: node {}: snapshot of slot {} frozen; the loop paid {} ms\n",
             opt_.id.value, slot.value, (uv_hrtime() - t0) / 1000000);
}

void KvNode::stop() {
  if (stopped_) return;
  stopped_ = true;
  snapshotter_.stop();
  if (resp_) resp_->stop();
  if (admin_) admin_->stop();
  if (host_) host_->stop();
  if (transport_) transport_->stop();
}

// The host's log lines, with what it cannot know: a stopped replica's
// storage error names the file, the operation and errno (LogStorage::error),
// where the host only has the Status.
void KvNode::host_log(std::string_view line) {
  std::string text(line);
  if (text.starts_with("STOPPED:")) {
    if (log_ && !log_->error().empty()) text += " (" + log_->error() + ")";
    stopped_reason_ = text;
  }
  fmt::print(stderr, "synod host [{}]: {}\n", opt_.id.value, text);
}

void KvNode::addresses_maybe_changed() {
  if (store_.addresses_version() == addresses_seen_) return;
  addresses_seen_ = store_.addresses_version();
  if (admin_) admin_->on_addresses_changed();
}

void KvNode::handle(const RequestRef& request, ReplyTo to) {
  RespServer& resp = *resp_;
  Route route = route_of(request.op);
  if (route == Route::local) {
    // INFO is O(1) (the digest is kept as commands apply), but still built
    // only for INFO.
    std::vector<InfoSection> sections;
    if (request.op == Op::info) sections = info();
    return resp.answer(to, to_resp(answer_local(request.own(), sections)));
  }
  if (route == Route::session) {
    // The RESP server's TxnSession answers these; none reaches the node.
    return resp.answer(to, "-ERR transaction command outside a client session\r\n");
  }
  if (route == Route::cluster) {
    auto parsed = parse_cluster(request.own().args);
    if (auto* bad = std::get_if<Reply>(&parsed)) return resp.answer(to, to_resp(*bad));
    if (stopped_) return resp.answer(to, "-TRYAGAIN replica stopping\r\n");
    admin_->handle(std::get<ClusterCommand>(parsed), resp.reply_function(to));
    return;
  }
  if (route == Route::read) {
    // Linearizable without a log write: ReadIndex, then the local state.
    ProposeResult r = host_->read([this, to, req = request.own()](Status st, NodeId hint) mutable {
      if (st == Status::ok) return resp_->answer(to, to_resp(store_.execute(std::move(req))));
      resp_->answer(
          to, st == Status::not_leader ? book_.moved(hint) : "-TRYAGAIN replica stopping\r\n");
    });
    if (!r.ok()) resp.answer(to, refusal(r, book_));
    return;
  }
  // A write: the log's encoding is made from the views (its own bytes, the
  // only copy of the arguments), and the callback is 16 bytes that
  // std::function holds inline.
  auto done = [this, to](const ProposalOutcome& o, const std::string& result) {
    if (o.outcome == Outcome::committed) return resp_->answer(to, std::string_view(result));
    resp_->answer(to, not_committed(o, book_));
  };
  static_assert(std::is_trivially_copyable_v<decltype(done)> && sizeof(done) <= 16);
  ProposeResult r = host_->propose(encode(request), done);
  if (!r.ok()) resp.answer(to, refusal(r, book_));
}

std::vector<InfoSection> KvNode::info() const {
  ReplicaInfo i = host_->info();
  InfoSection repl{"replication", {}};
  repl.fields = {{"role", i.role == Role::leader ? "master" : "slave"},
                 {"synod_role", host_->failed() ? "stopped" : std::string(to_string(i.role))},
                 {"node_id", std::to_string(opt_.id.value)},
                 {"leader_id", std::to_string(i.leader.value)},
                 {"ballot", fmt::format("{}.{}", i.ballot.round, i.ballot.node.value)},
                 {"promised", fmt::format("{}.{}", i.promised.round, i.promised.node.value)},
                 {"commit_index", std::to_string(i.commit.value)},
                 {"applied_index", std::to_string(i.applied.value)},
                 {"snapshot_index", std::to_string(i.snapshot.value)},
                 {"first_log_index", std::to_string(i.first_slot.value)},
                 {"compactions_cut_by_bytes", std::to_string(i.compactions_cut_by_bytes)}};
  if (auto a = book_.find(i.leader); a && !a->client.empty())
    repl.fields.push_back({"leader_address", a->client});
  if (host_->failed())
    repl.fields.push_back(
        {"synod_stopped_reason", stopped_reason_.empty() ? "storage failure" : stopped_reason_});
  const UvHostStats& st = host_->stats();
  InfoSection health{
      "stability",
      {{"elections_started", std::to_string(st.elections_started)},
       {"leader_changes", std::to_string(st.leader_changes)},
       {"loop_stalls", std::to_string(st.loop_stalls)},
       {"longest_stall_ms", std::to_string(st.longest_stall_ms)},
       {"ticks_skipped", std::to_string(st.ticks_skipped)},
       {"apply_deferred", std::to_string(st.apply_deferred)},
       {"synced_on_loop", std::to_string(st.synced_on_loop)},
       {"bad_frames", std::to_string(st.bad_frames)},
       {"election_timeout_ms", std::to_string(std::uint64_t{opt_.election_ticks} * opt_.tick_ms)}}};
  // What the peer port and the core refused (docs/security.md): strangers,
  // handshakes, and messages no correct peer sends.
  const TcpTransportStats tcp = transport_->stats();
  const TcpRefusals& r = tcp.refused;
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  InfoSection peers{"peers",
                    {{"peer_tls", opt_.tls.enabled() ? "yes" : "no"},
                     {"peer_connects", n(tcp.connects)},
                     {"peer_handshakes_refused", n(tcp.handshakes_refused)},
                     {"peer_refused_bad_hello", n(r.bad_hello)},
                     {"peer_refused_unknown_id", n(r.unknown_id)},
                     {"peer_refused_tls_failed", n(r.tls_failed)},
                     {"peer_refused_certificate_mismatch", n(r.certificate_mismatch)},
                     {"peer_refused_replacement", n(r.replacement_refused)},
                     {"peer_refused_handshake_timeout", n(r.handshake_timeout)},
                     {"peer_refused_per_address_cap", n(r.per_address_cap)},
                     {"peer_refused_total_cap", n(r.total_cap)},
                     {"peer_frames_oversized", n(tcp.frames_oversized)},
                     {"peer_frames_dropped", n(tcp.frames_dropped)},
                     {"peer_knocks_sent", n(tcp.knocks_sent)},
                     {"peer_knocks_received", n(tcp.knocks_received)},
                     {"messages_refused_malformed", n(i.refused.malformed)},
                     {"messages_refused_round", n(i.refused.round)},
                     {"messages_refused_slot", n(i.refused.slot)},
                     {"messages_refused_unasked", n(i.refused.unasked)}}};
  InfoSection keys{"keyspace",
                   {{"keys", std::to_string(store_.key_count())},
                    {"digest", fmt::format("{:016x}", store_.digest())}}};
  std::vector<InfoSection> sections = resp_->info();  // clients, stats
  for (InfoSection& extra : std::vector<InfoSection>{repl, admin_->info(), health, peers, keys})
    sections.push_back(std::move(extra));
  if (log_) sections.push_back(persistence_info(log_->stats(), opt_.log_format));
  return sections;
}

}  // namespace synod::kv
