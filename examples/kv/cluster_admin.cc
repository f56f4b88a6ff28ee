#include "cluster_admin.h"

#include <fmt/format.h>

#include <algorithm>

#include "hash_slot.h"
#include "kv_command_codec.h"
#include "refusal.h"
#include "synod/tcp_address.h"

namespace synod::kv {

namespace {

constexpr std::uint64_t kTransferPollMs = 10;

std::string join_ids(const std::vector<NodeId>& ids) {
  std::vector<std::uint64_t> sorted;
  for (NodeId id : ids) sorted.push_back(id.value);
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (std::uint64_t id : sorted) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return out;
}

std::vector<NodeId> members_sorted(const Membership& m) {
  std::vector<NodeId> all = m.voters;
  all.insert(all.end(), m.learners.begin(), m.learners.end());
  std::sort(all.begin(), all.end());
  return all;
}

bool same_peers(const std::vector<Peer>& a, const std::vector<Peer>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Peer& x, const Peer& y) {
    return x.id == y.id && x.address == y.address;
  });
}

std::string error(std::string_view text) { return fmt::format("-{}\r\n", text); }

}  // namespace

ClusterAdmin::ClusterAdmin(uv_loop_t* loop, const ServerOptions& options, const KvStore& store,
                           const AddressBook& book, TcpTransport& transport,
                           std::uint64_t transfer_timeout_ms)
    : loop_(loop),
      opt_(options),
      store_(store),
      book_(book),
      transport_(transport),
      transfer_timeout_ms_(transfer_timeout_ms) {}

ClusterAdmin::~ClusterAdmin() = default;

void ClusterAdmin::stop() {
  transfers_.clear();
  if (timer_) {
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
}

// ---- The transport's peers ------------------------------------------------

void ClusterAdmin::on_membership(const Membership& membership) {
  membership_ = membership;
  fmt::print(stderr, "synod-kv: node {}: membership voters [{}] learners [{}]{}\n", opt_.id.value,
             join_ids(membership.voters), join_ids(membership.learners),
             membership.is_member(opt_.id) ? "" : "; this node is not a member");
  refresh_peers();
}

void ClusterAdmin::on_addresses_changed() { refresh_peers(); }

// Peers are the members of the latest chosen configuration, even before it
// governs: a new member must be reachable to catch up, and a removed one
// no longer counts. This node keeps its peers when it is not a member
// itself: a joining node may install a snapshot older than its addition.
void ClusterAdmin::refresh_peers() {
  std::vector<NodeId> unknown;
  std::vector<Peer> peers = book_.peers_of(membership_, &unknown);
  if (!unknown.empty())
    fmt::print(stderr,
               "synod-kv: node {}: no address known for members [{}]; they stay unreachable "
               "from here until CLUSTER ADDNODE logs one (or --peers names them)\n",
               opt_.id.value, join_ids(unknown));
  std::sort(peers.begin(), peers.end(), [](const Peer& a, const Peer& b) { return a.id < b.id; });
  if (same_peers(peers, peers_)) return;
  peers_ = peers;
  transport_.set_peers(peers);
}

// ---- Commands ---------------------------------------------------------------

void ClusterAdmin::handle(const ClusterCommand& c, Respond reply) {
  if (!host_ || host_->failed()) return reply("-ERR replica unavailable\r\n");
  switch (c.op) {
    case ClusterOp::nodes:
      return reply(to_resp(Reply::bulk(nodes())));
    case ClusterOp::help:
      return reply(to_resp(cluster_help()));
    case ClusterOp::keyslot:
      return reply(to_resp(Reply::integer(key_slot(c.key))));
    case ClusterOp::add_voter:
    case ClusterOp::add_learner:
      return add(c, std::move(reply));
    case ClusterOp::remove:
      return remove(NodeId{c.node}, std::move(reply));
    case ClusterOp::transfer:
      return transfer(NodeId{c.node}, std::move(reply));
    case ClusterOp::slots:
    case ClusterOp::shards:
    case ClusterOp::info:
    case ClusterOp::myid:
      // One group is not a Redis Cluster: redis-cli without -c serves it.
      return reply(
          "-ERR This instance has cluster support disabled (start synod-kv with --shards N "
          "for Redis Cluster's views; docs/kv.md)\r\n");
  }
}

// The new member's address, and those of current members that only command
// lines knew (so that the log, and every replica, knows them all), in one
// command.
std::string ClusterAdmin::addresses_command(const ClusterCommand& c, const Membership& m) const {
  Request r;
  r.op = Op::node_addresses;
  r.args = {std::to_string(c.node), c.peer_address, c.client_address};
  for (NodeId id : members_sorted(m)) {
    if (store_.member_addresses().contains(id.value)) continue;
    std::optional<MemberAddress> a = book_.find(id);
    if (!a || a->peer.empty()) continue;
    r.args.insert(r.args.end(), {std::to_string(id.value), a->peer, a->client});
  }
  return encode(r);
}

void ClusterAdmin::add(const ClusterCommand& c, Respond reply) {
  ReplicaInfo i = host_->info();
  NodeId node{c.node};
  if (i.role != Role::leader) return reply(book_.moved(i.leader));
  if (i.membership.is_member(node))
    return reply(error(fmt::format("ERR node {} is already a {}", c.node,
                                   i.membership.is_voter(node) ? "voter" : "learner")));
  sockaddr_storage sa{};
  std::string why;
  if (!parse_address(c.peer_address, &sa, &why))
    return reply(error(fmt::format("ERR peer address '{}': {}", c.peer_address, why)));
  // The latest configuration does not govern yet: the change would be
  // refused as busy, so the address need not be logged yet.
  if (i.membership_from > i.commit.next())
    return reply(membership_refusal({Status::busy, {}, {}}, MembershipOp::add_voter, node));
  MembershipOp op =
      c.op == ClusterOp::add_voter ? MembershipOp::add_voter : MembershipOp::add_learner;
  ProposeResult r =
      host_->propose(addresses_command(c, i.membership),
                     [this, op, node, reply](const ProposalOutcome& o, const std::string& result) {
                       if (o.outcome != Outcome::committed) return reply(not_committed(o, book_));
                       if (result != "+OK\r\n") return reply(result);
                       change(op, node, reply);
                     });
  if (!r.ok()) reply(refusal(r, book_));
}

void ClusterAdmin::change(MembershipOp op, NodeId node, Respond reply) {
  ProposeResult r = host_->change_membership(
      op, node, [this, reply](const ProposalOutcome& o, const std::string&) {
        if (o.outcome != Outcome::committed) return reply(not_committed(o, book_));
        reply("+OK\r\n");
      });
  if (!r.ok()) reply(membership_refusal(r, op, node));
}

void ClusterAdmin::remove(NodeId node, Respond reply) {
  ReplicaInfo i = host_->info();
  if (i.role != Role::leader) return reply(book_.moved(i.leader));
  change(MembershipOp::remove, node, std::move(reply));
}

std::string ClusterAdmin::membership_refusal(const ProposeResult& r, MembershipOp op,
                                             NodeId node) const {
  switch (r.status) {
    case Status::busy:
      return "-BUSY another membership change is in progress (one at a time); retry once "
             "it completes\r\n";
    case Status::invalid_argument: {
      Membership m = host_->info().membership;
      if (op == MembershipOp::remove && !m.is_member(node))
        return error(fmt::format("ERR node {} is not a member", node.value));
      if (op == MembershipOp::remove)
        return error(fmt::format("ERR node {} is the last voter; a cluster needs one", node.value));
      if (m.is_member(node))
        return error(fmt::format("ERR node {} is already a member", node.value));
      return error(
          fmt::format("ERR invalid membership change ({} node {})", to_string(op), node.value));
    }
    case Status::not_leader:
    case Status::overloaded:
    case Status::rejoining:
    case Status::unavailable:
      return refusal(r, book_);
    default:
      // Any other refusal of the core (a member-id capacity, say) is named
      // as what it is: a refused change, not an unavailable replica.
      return error(fmt::format("ERR membership change refused ({} node {}): {}", to_string(op),
                               node.value, to_string(r.status)));
  }
}

void ClusterAdmin::transfer(NodeId to, Respond reply) {
  ReplicaInfo i = host_->info();
  if (i.role != Role::leader) return reply(book_.moved(i.leader));
  if (to == opt_.id) return reply("+OK\r\n");  // already leads
  Status s = host_->transfer_leadership(to);
  if (s == Status::unknown_peer)
    return reply(error(fmt::format("ERR node {} is not a voter of this cluster", to.value)));
  if (s == Status::not_leader) return reply(book_.moved(host_->info().leader));
  if (s != Status::ok)
    return reply(error(fmt::format("ERR leadership transfer refused ({})", to_string(s))));
  transfers_.push_back({to, uv_now(loop_) + transfer_timeout_ms_, std::move(reply)});
  if (!timer_) {
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
  }
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(timer_)))
    uv_timer_start(
        timer_, [](uv_timer_t* t) { static_cast<ClusterAdmin*>(t->data)->poll_transfers(); },
        kTransferPollMs, kTransferPollMs);
}

// +OK once this node sees the target lead; an error at the deadline (the
// leader gives up a transfer after an election timeout and leads on).
void ClusterAdmin::poll_transfers() {
  ReplicaInfo i = host_ ? host_->info() : ReplicaInfo{};
  std::uint64_t now = uv_now(loop_);
  std::erase_if(transfers_, [&](PendingTransfer& t) {
    if (i.role != Role::leader && i.leader == t.to) {
      t.reply("+OK\r\n");
      return true;
    }
    if (now < t.deadline_ms) return false;
    t.reply(error(fmt::format(
        "ERR leadership transfer to node {} did not complete within {} ms ({}); retry", t.to.value,
        transfer_timeout_ms_,
        i.leader.valid() ? fmt::format("node {} leads", i.leader.value) : "no leader now")));
    return true;
  });
  if (transfers_.empty() && timer_) uv_timer_stop(timer_);
}

// ---- Listing ----------------------------------------------------------------

// One line per member, by id: "<id> <peer address> <client address>
// <flags>", flags voter or learner, then myself and leader where true; an
// address nobody told this node is "-".
std::string ClusterAdmin::nodes() const {
  ReplicaInfo i = host_->info();
  std::string out;
  for (NodeId id : members_sorted(i.membership)) {
    std::optional<MemberAddress> a = book_.find(id);
    std::string flags = i.membership.is_voter(id) ? "voter" : "learner";
    if (id == opt_.id) flags += ",myself";
    if (id == i.leader) flags += ",leader";
    out += fmt::format("{} {} {} {}\n", id.value, a && !a->peer.empty() ? a->peer : "-",
                       a && !a->client.empty() ? a->client : "-", flags);
  }
  return out;
}

InfoSection ClusterAdmin::info() const {
  ReplicaInfo i = host_ ? host_->info() : ReplicaInfo{};
  const Membership& m = i.membership;
  InfoSection s{"cluster", {}};
  s.fields = {{"member_role", m.is_voter(opt_.id)     ? "voter"
                              : m.is_learner(opt_.id) ? "learner"
                                                      : "none"},
              {"voters", join_ids(m.voters)},
              {"learners", join_ids(m.learners)},
              {"membership_from", std::to_string(i.membership_from.value)}};
  for (NodeId id : members_sorted(m)) {
    std::optional<MemberAddress> a = book_.find(id);
    s.fields.push_back(
        {fmt::format("member{}", id.value),
         fmt::format("role={},peer={},client={}", m.is_voter(id) ? "voter" : "learner",
                     a && !a->peer.empty() ? a->peer : "-",
                     a && !a->client.empty() ? a->client : "-")});
  }
  return s;
}

}  // namespace synod::kv
