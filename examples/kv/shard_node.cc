#include "shard_node.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "client_port.h"
#include "kv_command_codec.h"
#include "persistence_info.h"
#include "refusal.h"
#include "tls_context.h"

namespace synod::kv {
namespace {

constexpr const char* kCrossSlot =
    "-CROSSSLOT Keys in request don't hash to the same slot (synod-kv: MSETNX over keys of "
    "several shards is not supported; docs/kv.md)\r\n";

}  // namespace

ShardNode::ShardNode(uv_loop_t* loop, ServerOptions options)
    : loop_(loop), opt_(std::move(options)), map_(opt_.shards) {
  for (std::size_t s = 0; s < opt_.shards; ++s) {
    stores_.push_back(std::make_unique<KvStore>());
    stores_.back()->set_snapshot_format(opt_.snapshot_format);
  }
}

ShardNode::~ShardNode() = default;

bool ShardNode::open_log(std::string* why) {
  if (opt_.memory) return true;
  GroupLogOptions log_options;
  if (opt_.log_format == 2) {
    // Recycling takes segments zeroed ahead (LogOptions::recycle_segments).
    log_options.log.preallocation = Preallocation::write_zeros;
    log_options.log.recycle_segments = true;
  }
  auto opened = GroupLog::open(opt_.data_dir, log_options);
  if (!opened.ok()) {
    *why = fmt::format("cannot open the group log in {}: {}", opt_.data_dir, opened.error);
    return false;
  }
  // The slots' split follows the shard count: the same dir under another
  // count would serve keys from shards that do not hold them.
  std::vector<GroupId> held = opened.log->groups();
  if (!held.empty() && (held.size() != opt_.shards || held.back().value != opt_.shards)) {
    *why = fmt::format("{} holds {} shards (groups up to {}); start with --shards {}",
                       opt_.data_dir, held.size(), held.back().value, held.size());
    return false;
  }
  log_ = std::move(opened.log);
  return true;
}

GroupOptions ShardNode::group_options(std::size_t shard) {
  GroupOptions g;
  g.config.id = opt_.id;
  g.config.group = group_of(shard);
  for (const Peer& p : opt_.peers) g.config.voters.push_back(p.id);
  g.config.election_ticks = opt_.election_ticks;
  g.config.heartbeat_ticks = std::max<std::uint32_t>(1, opt_.election_ticks / 10);
  g.config.seed = 0;  // the host draws one per group
  g.config.join_existing = !opt_.bootstrap;
  g.config.compaction_tail = opt_.compaction_tail;
  g.config.compaction_tail_bytes = opt_.compaction_tail_bytes;
  g.config.lease_reads = opt_.lease_reads;
  g.apply = [this, shard](Slot, std::string_view command) { return apply(shard, command); };
  // Images are serialised on the loop: each shard holds a 1/N share of the
  // key space (the threaded snapshot of a single group is not wired here).
  // They hold the shard's transaction state too (ShardTxns::snapshot).
  auto s = static_cast<txn::ShardId>(shard);
  g.snapshot_every_bytes = opt_.snapshot_bytes;
  g.snapshot = [this, s] { return txns_->snapshot(s); };
  NodeId self = opt_.id;
  g.restore = [this, self, s, shard](const Snapshot& snap) {
    if (!txns_->restore(s, *snap.data)) {
      fmt::print(stderr, "synod-kv: node {}: shard {}'s snapshot does not parse; stopping\n",
                 self.value, shard + 1);
      std::abort();
    }
  };
  return g;
}

bool ShardNode::start(std::string* why) {
  if (!open_log(why)) return false;
  GroupHostOptions h;
  h.self = opt_.id;
  h.tick_ms = opt_.tick_ms;
  h.election_ticks = opt_.election_ticks;
  h.heartbeat_ticks = std::max<std::uint32_t>(1, opt_.election_ticks / 10);
  h.log = log_.get();
  h.on_host_message = [this](NodeId from, std::string_view payload) {
    if (txns_) txns_->on_message(from, payload);
  };
  NodeId self = opt_.id;
  h.log_line = [self](std::string_view line) {
    fmt::print(stderr, "synod group host [{}]: {}\n", self.value, line);
  };
  TcpTransportOptions t;
  t.self = opt_.id;
  t.cluster_id = opt_.cluster_id;
  t.tls = opt_.tls;
  t.frame_bytes_max = h.limits.frame_bytes_max;
  for (const Peer& p : opt_.peers) {
    if (p.id == opt_.id)
      t.listen_address = p.address;
    else
      t.peers.push_back(p);
  }
  transport_ = std::make_unique<TcpTransport>(loop_, t);
  host_ = std::make_unique<GroupHost>(loop_, *transport_, h);
  if (host_->start(why) != Status::ok) return false;
  start_txns();  // before the groups: recovering them applies their logs
  for (std::size_t s = 0; s < opt_.shards; ++s) {
    if (host_->add_group(group_options(s), why) != Status::ok) return false;
    // First leaders placed round-robin; GroupHost's balancing keeps them
    // spread after failures.
    if ((s % opt_.peers.size()) + 1 == opt_.id.value) host_->campaign(group_of(s));
  }

  if (!start_client_port(loop_, opt_, Config{}.batch_bytes_max,  // the log takes no longer command
                         *this, &client_tls_, &resp_, why))
    return false;
  fmt::print(stderr, "synod-kv: node {} serving Redis clients on {} ({} shards, {})\n",
             opt_.id.value, opt_.listen, opt_.shards,
             opt_.memory ? "in-memory" : "one group log in " + opt_.data_dir);
  return true;
}

void ShardNode::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (resp_) resp_->stop();
  stop_txns();
  if (host_) host_->stop();
  if (transport_) transport_->stop();
}

std::string ShardNode::redirect(const ShardRoute& route, NodeId hint) {
  if (!hint.valid() || hint == opt_.id) {
    std::optional<ReplicaInfo> i = host_->info(group_of(route.shard));
    if (i && i->leader != opt_.id) hint = i->leader;
  }
  std::optional<MemberAddress> a = hint.valid() ? book_.find(hint) : std::nullopt;
  if (!a || a->client.empty()) {
    ++stats_.tryagain;
    return fmt::format("-TRYAGAIN shard {} (slot {}) has no leader yet; retry shortly\r\n",
                       route.shard + 1, route.slot);
  }
  ++stats_.moved;
  return fmt::format("-MOVED {} {}\r\n", route.slot, a->client);
}

void ShardNode::handle(const RequestRef& request, ReplyTo to) {
  handle(request.own(), resp_->reply_function(to));
}

void ShardNode::handle(Request request, RespServer::Reply reply) {
  Route kind = route_of(request.op);
  if (kind == Route::local) {
    std::vector<InfoSection> sections;
    if (request.op == Op::info) sections = info();
    return reply(to_resp(answer_local(request, sections)));
  }
  if (kind == Route::session) return reply("-ERR transaction command outside a client session\r\n");
  if (kind == Route::cluster) {
    auto parsed = parse_cluster(request.args);
    if (auto* bad = std::get_if<Reply>(&parsed)) return reply(to_resp(*bad));
    return handle_cluster(std::get<ClusterCommand>(parsed), reply);
  }
  if (stopped_ || host_->failed()) return reply("-TRYAGAIN replica stopping\r\n");
  ShardRoute route;
  if (!route_request(request, map_, &route))
    return reply("-ERR transaction payload does not decode\r\n");
  if (request.op == Op::dbsize) {
    // As a Redis Cluster master: the keys of the shards this node leads
    // (cluster clients sum DBSIZE over the masters). Read locally.
    std::int64_t n = 0;
    for (std::size_t s = 0; s < opt_.shards; ++s) {
      std::optional<ReplicaInfo> i = host_->info(group_of(s));
      if (i && i->role == Role::leader) n += static_cast<std::int64_t>(stores_[s]->key_count());
    }
    return reply(to_resp(Reply::integer(n)));
  }
  // A keyless transaction (EXEC of DBSIZE alone) runs in the first shard.
  std::optional<ReplicaInfo> i = host_->info(group_of(route.shard));
  bool leads = i && i->role == Role::leader;
  if (request.op == Op::watch_versions && (route.cross_shard || !leads)) {
    // WATCH of keys on shards this node does not lead (or on several):
    // this replica's versions. One may be stale, never newer than the
    // leader's, and a key's version only grows, so a stale one can only
    // abort the EXEC (nil), never let a changed key through (docs/kv.md).
    std::vector<Reply> versions;
    for (const std::string& key : request.args) {
      const KvStore& store = *stores_[map_.shard_of_key(key)];
      versions.push_back(Reply::integer(static_cast<std::int64_t>(store.version_of(key))));
    }
    return reply(to_resp(Reply::array(std::move(versions))));
  }
  if (!leads) return reply(redirect(route, NodeId{}));
  if (route.cross_shard) {
    if (request.op == Op::msetnx) {
      ++stats_.crossslot;
      return reply(kCrossSlot);
    }
    return handle_cross_shard(request, route, reply);
  }
  if (txns_->any_locked(route.shard)) {
    if (std::optional<std::string> key = locked_key(route.shard, request))
      return wait_for_locks(std::move(request), std::move(reply), std::move(*key));
  }
  GroupId group = group_of(route.shard);
  KvStore* store = stores_[route.shard].get();
  auto shared = std::make_shared<RespServer::Reply>(std::move(reply));
  if (kind == Route::read) {
    auto req = std::make_shared<Request>(std::move(request));
    ProposeResult r = host_->read(group, [this, shared, req, store, route](Status st, NodeId hint) {
      if (st == Status::ok) {
        // A prepare applied since the check above: wait for its decision.
        if (txns_->any_locked(route.shard)) {
          if (std::optional<std::string> key = locked_key(route.shard, *req))
            return wait_for_locks(std::move(*req), std::move(*shared), std::move(*key));
        }
        return (*shared)(to_resp(store->execute(std::move(*req))));
      }
      (*shared)(st == Status::not_leader ? redirect(route, hint)
                                         : "-TRYAGAIN replica stopping\r\n");
    });
    if (r.status == Status::not_leader) return (*shared)(redirect(route, r.leader_hint));
    if (!r.ok()) (*shared)(refusal(r, book_));
    return;
  }
  ProposeResult r =
      host_->propose(group, encode(request),
                     [this, shared, route](const ProposalOutcome& o, const std::string& result) {
                       if (o.outcome == Outcome::committed) return (*shared)(result);
                       if (o.outcome == Outcome::not_leader)
                         return (*shared)(redirect(route, o.leader_hint));
                       (*shared)(not_committed(o, book_));
                     });
  if (r.status == Status::not_leader) return (*shared)(redirect(route, r.leader_hint));
  if (!r.ok()) (*shared)(refusal(r, book_));
}

void ShardNode::handle_cluster(const ClusterCommand& c, const RespServer::Reply& reply) {
  switch (c.op) {
    case ClusterOp::slots:
      return reply(to_resp(cluster_slots(view())));
    case ClusterOp::shards:
      return reply(to_resp(cluster_shards(view())));
    case ClusterOp::nodes:
      return reply(to_resp(Reply::bulk(cluster_nodes(view()))));
    case ClusterOp::info:
      return reply(to_resp(Reply::bulk(cluster_info(view()))));
    case ClusterOp::myid:
      return reply(to_resp(Reply::bulk(cluster_node_name(opt_.id))));
    case ClusterOp::keyslot:
      return reply(to_resp(Reply::integer(key_slot(c.key))));
    case ClusterOp::help:
      return reply(to_resp(cluster_help()));
    case ClusterOp::add_voter:
    case ClusterOp::add_learner:
    case ClusterOp::remove:
    case ClusterOp::transfer:
      return reply(
          "-ERR membership commands are not supported with --shards > 1 (every member is a "
          "replica of every shard, fixed by --peers; docs/kv.md)\r\n");
  }
}

ClusterView ShardNode::view() const {
  ClusterView v;
  v.self = opt_.id;
  for (const Peer& p : opt_.peers) {
    std::optional<MemberAddress> a = book_.find(p.id);
    v.nodes[p.id.value] = NodeAddresses{a ? a->client : std::string{}, p.address};
  }
  for (std::size_t s = 0; s < opt_.shards; ++s) {
    ShardView sv;
    sv.range = map_.ranges()[s];
    std::optional<ReplicaInfo> i = host_->info(group_of(s));
    if (i) sv.leader = i->leader;
    for (const Peer& p : opt_.peers) sv.members.push_back(p.id);
    v.shards.push_back(std::move(sv));
  }
  return v;
}

std::vector<InfoSection> ShardNode::info() const {
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  std::size_t led = 0;
  InfoSection shards{"shards", {}};
  std::uint64_t keys = 0, digest = 0;
  for (std::size_t s = 0; s < opt_.shards; ++s) {
    std::optional<ReplicaInfo> i = host_->info(group_of(s));
    if (!i) continue;
    if (i->role == Role::leader) ++led;
    shards.fields.push_back(
        {fmt::format("shard{}", s + 1),
         fmt::format("slots={}-{},leader={},role={},commit={},applied={},keys={},prepared={}",
                     map_.ranges()[s].first, map_.ranges()[s].last, i->leader.value,
                     to_string(i->role), i->commit.value, i->applied.value, stores_[s]->key_count(),
                     txns_->prepared(static_cast<txn::ShardId>(s)))});
    keys += stores_[s]->key_count();
    digest ^= stores_[s]->digest();
  }
  const GroupHostStats st = host_->stats();
  InfoSection repl{"replication",
                   {{"role", led > 0 ? "master" : "slave"},
                    {"synod_role", host_->failed() ? "stopped" : "shards"},
                    {"node_id", n(opt_.id.value)},
                    {"shards", n(opt_.shards)},
                    {"shards_led", n(led)}}};
  InfoSection cluster{"cluster",
                      {{"cluster_enabled", "1"},
                       {"moved_replies", n(stats_.moved)},
                       {"tryagain_replies", n(stats_.tryagain)},
                       {"crossslot_replies", n(stats_.crossslot)},
                       {"lock_waits", n(stats_.lock_waits)},
                       {"lock_wait_timeouts", n(stats_.lock_wait_timeouts)},
                       {"locked_writes_refused", n(stats_.locked_refused)},
                       {"leaders_handed_off", n(st.leaders_handed_off)},
                       {"log_batches", n(st.log_batches)}}};
  const ShardTxnsStats& t = txns_->stats();
  std::size_t records = 0, finished = 0;  // what forgetting bounds
  for (std::size_t s = 0; s < opt_.shards; ++s) {
    records += txns_->coordinator(static_cast<txn::ShardId>(s)).records();
    finished += txns_->participant(static_cast<txn::ShardId>(s)).finished_count();
  }
  InfoSection txns{"transactions",
                   {{"txn_started", n(t.started)},
                    {"txn_committed", n(t.committed)},
                    {"txn_aborted", n(t.aborted)},
                    {"txn_unknown", n(t.unknown)},
                    {"txn_messages_sent", n(t.messages_sent)},
                    {"txn_messages_local", n(t.messages_local)},
                    {"txn_messages_received", n(t.messages_received)},
                    {"txn_messages_malformed", n(t.messages_malformed)},
                    {"txn_messages_not_leader", n(t.messages_not_leader)},
                    {"txn_messages_no_leader", n(t.messages_no_leader)},
                    {"txn_entries_malformed", n(t.entries_malformed)},
                    {"txn_proposals_failed", n(t.proposals_failed)},
                    {"txn_drives_restarted", n(t.drives_restarted)},
                    {"txn_records", n(records)},
                    {"txn_finished", n(finished)}}};
  InfoSection keyspace{"keyspace", {{"keys", n(keys)}, {"digest", fmt::format("{:016x}", digest)}}};
  std::vector<InfoSection> sections = resp_->info();
  for (InfoSection& extra : std::vector<InfoSection>{repl, cluster, shards, txns, keyspace})
    sections.push_back(std::move(extra));
  if (log_) sections.push_back(persistence_info(log_->stats().log, opt_.log_format));
  return sections;
}

}  // namespace synod::kv
