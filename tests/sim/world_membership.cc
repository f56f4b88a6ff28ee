// Membership at run time: spare nodes join as learners, the scenario's
// changes go to whichever node leads (retried while it is busy or nobody
// leads), removed nodes are stopped, and liveness waits for the members of
// the latest configuration only.
#include <fmt/format.h>

#include <algorithm>

#include "world.h"

namespace synod::sim {

namespace {

bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::string ids(const std::vector<NodeId>& v) {
  std::string s;
  for (NodeId id : v) s += fmt::format("{}{}", s.empty() ? "" : ",", id.value);
  return s;
}

}  // namespace

std::string World::describe(const Membership& m) {
  return fmt::format("voters {{{}}} learners {{{}}}", ids(m.voters), ids(m.learners));
}

std::string World::describe_life(const Node& n) const {
  static constexpr const char* kLife[] = {"spare", "joining", "member", "removed"};
  std::string s = fmt::format("{}:{}", n.id.value, kLife[static_cast<int>(n.life)]);
  if (!n.replica) return s + "/down";
  ReplicaInfo i = n.replica->info();
  return s + fmt::format("/{}{}/c{}/a{}/knows {{{}|{}}}", to_string(i.role),
                         n.replica->quiesced() ? "/asleep" : "", i.commit.value, i.applied.value,
                         ids(i.membership.voters), ids(i.membership.learners));
}

// The leader of the highest ballot among the running nodes (a deposed one may
// still think it leads).
World::Node* World::leader() {
  Node* best = nullptr;
  Ballot top{};
  for (Node& n : nodes_) {
    if (!n.replica) continue;
    ReplicaInfo i = n.replica->info();
    if (i.role == Role::leader && (best == nullptr || i.ballot > top)) best = &n, top = i.ballot;
  }
  return best;
}

void World::observe_membership() {
  for (const Node& n : nodes_) {
    if (!n.replica) continue;
    ReplicaInfo i = n.replica->info();
    if (i.commit <= latest_commit_) continue;
    latest_commit_ = i.commit;
    latest_ = i.membership;
    latest_from_ = i.membership_from;
  }
}

// What a process started on an empty disk is told (Config::voters and
// learners): the voters of the moment, itself among them only if it may
// have voted before (then it rejoins before it votes again), else as a
// learner. It learns the exact history from the log or a snapshot.
void World::fresh_command_line(Node& n) {
  observe_membership();
  n.voters = latest_.voters;
  n.learners.clear();
  if (!n.maybe_voter) {
    std::erase(n.voters, n.id);
    n.learners.push_back(n.id);
  } else if (!contains(n.voters, n.id)) {
    n.voters.push_back(n.id);
  }
}

// A spare, or a removed node (its old state is stale: wiped), starts as a
// learner joining the running cluster.
void World::join(Node& n) {
  if (n.replica) crash(n, false, 0);
  n.storage.wipe();
  n.maybe_voter = false;
  n.life = Life::joining;
  n.join = true;
  fresh_command_line(n);
  trace("t={} join {} as a learner ({})", now_, n.id.value,
        describe(Membership{n.voters, n.learners}));
  boot(n, /*fresh=*/true);
}

// Proposed configurations that name a node a voter: from then on it may vote.
void World::note_voters(const Message& m) {
  for (const Entry& e : m.entries) {
    if (!e.value.is_config()) continue;
    if (std::optional<Membership> c = membership_of(e.value))
      for (NodeId v : c->voters)
        if (v.value >= 1 && v.value <= nodes_.size()) node(v).maybe_voter = true;
  }
}

void World::transfer(const Event& e) {
  for (Node& l : nodes_) {
    if (!l.replica) continue;
    ReplicaInfo i = l.replica->info();
    if (i.role != Role::leader) continue;
    std::vector<NodeId> to = i.membership.voters;
    std::erase(to, l.id);
    if (to.empty()) continue;
    NodeId target = to[e.pick % to.size()];
    Status s = l.replica->transfer_leadership(target);
    trace("t={} transfer {} -> {}: {}", now_, l.id.value, target.value, to_string(s));
    process_ready(l);
  }
}

// Picks the node a change is about, from the leader's latest configuration m:
// false when there is none yet (try again later). An addition starts its
// node as a joiner first, as an operator would.
bool World::pick_target(Change& c, const Membership& m) {
  // A voter removed only while more than the initial number are left (asked
  // again on the configuration of the moment: another removal may have gone
  // in since the node was picked).
  auto removable = [&](NodeId v) { return !m.is_voter(v) || m.voters.size() > scenario_.replicas; };
  bool adds = c.op == MembershipOp::add_voter || c.op == MembershipOp::add_learner;
  // An addition asked again (its outcome was lost) whose node was removed
  // and stopped meanwhile picks again: that node comes back only wiped.
  if (c.target.valid() && adds && node(c.target).life != Life::joining) c.target = NodeId{};
  if (c.target.valid()) return c.op != MembershipOp::remove || removable(c.target);
  std::vector<NodeId> options;
  switch (c.op) {
    case MembershipOp::add_voter:
    case MembershipOp::add_learner:
      // Spares, removed nodes already stopped, and joiners no configuration
      // took (a change that gave up).
      for (const Node& n : nodes_)
        if (n.life == Life::spare || (n.life == Life::removed && may_readd(n)) ||
            (n.life == Life::joining && !m.is_member(n.id)))
          options.push_back(n.id);
      break;
    case MembershipOp::promote:
      options = m.learners;
      break;
    case MembershipOp::remove:
      // Never below the initial number of voters, whose f bounds the wipes.
      if (!c.voters_only) options = m.learners;
      if (m.voters.size() > scenario_.replicas)
        options.insert(options.end(), m.voters.begin(), m.voters.end());
      break;
  }
  if (options.empty()) return false;
  c.target = options[c.pick % options.size()];
  if (adds) join(node(c.target));
  return true;
}

// Changes go to the leader in the order asked, each once it has a node to be
// about (a later one may go first meanwhile). Refused as busy (one change at
// a time, until the last governs) or with nobody leading, they wait for a
// later tick; refused as nonsense (the cluster changed meanwhile), dropped.
void World::try_change() {
  if (changes_.empty() || faults_over_) return;
  std::uint64_t tick = now_ / kStepsPerTick;
  std::erase_if(changes_, [&](const Change& c) {
    if (tick <= c.until) return false;
    trace("t={} change {} gives up", now_, to_string(c.op));
    return true;
  });
  Node* l = leader();
  if (l == nullptr) return;
  Membership m = l->replica->info().membership;
  for (auto it = changes_.begin(); it != changes_.end(); ++it) {
    Change& c = *it;
    if (!pick_target(c, m)) continue;
    ProposeResult r = l->replica->change_membership(c.op, c.target);
    trace("t={} change {} {} on {}: {}", now_, to_string(c.op), c.target.value, l->id.value,
          to_string(r.status));
    if (r.status == Status::invalid_argument) {
      changes_.erase(it);
      return;
    }
    if (r.ok()) {
      l->changes[r.ticket.value] = c;
      changes_.erase(it);
      process_ready(*l);
    }
    return;
  }
}

// A change that ended without being chosen here (or whose fate is unknown) is
// asked again: if it was chosen after all, the leader refuses it as nonsense.
bool World::handle_change_outcome(Node& n, const ProposalOutcome& o) {
  auto it = n.changes.find(o.ticket.value);
  if (it == n.changes.end()) return false;
  Change c = it->second;
  n.changes.erase(it);
  checker_.on_change_outcome(n.id, o);
  trace("t={} change {} {} on {}: {}", now_, to_string(c.op), c.target.value, n.id.value,
        to_string(o.outcome));
  if (o.outcome != Outcome::committed && !faults_over_) changes_.push_back(c);
  return true;
}

// n crashed: its changes will never be answered.
void World::requeue_changes(Node& n) {
  for (auto& [ticket, c] : n.changes)
    if (!faults_over_) changes_.push_back(c);
  n.changes.clear();
}

// Joiners a configuration took are members; members the latest configuration
// no longer names are removed, and stopped a little later (a removed leader
// may still be handing over).
void World::track_membership() {
  observe_membership();
  std::uint64_t tick = now_ / kStepsPerTick;
  for (Node& n : nodes_) {
    bool named = latest_.is_member(n.id);
    if (n.life == Life::joining && named) {
      n.life = Life::member;
    } else if (n.life == Life::member && !named) {
      n.life = Life::removed;
      n.stop_at = tick + draw(60);
      n.removal_governs = latest_from_;
      trace("t={} removed {}", now_, n.id.value);
    }
    // Stopped once every member committed the slots the configurations
    // naming it govern: before, those may still need its vote (a removed
    // leader may have committed them alone, and be the only one that knows).
    if (n.life == Life::removed && n.replica && tick >= n.stop_at &&
        members_commit().next() >= n.removal_governs) {
      trace("t={} stop removed {}", now_, n.id.value);
      crash(n, false, 0);
    }
  }
}

// Voters other than `except` failed for good or for a while: rejoining
// after a wipe (running or crashed), or removed and stopped while a member
// has not committed the slots the configurations naming them govern (a wiped
// member starts over).
std::size_t World::failed_for_wipes(const Node& except) const {
  std::size_t failed = 0;
  Slot behind = members_commit();
  for (const Node& o : nodes_) {
    if (o.id == except.id) continue;
    if (o.life == Life::member || o.life == Life::joining)
      failed += o.replica ? o.replica->info().role == Role::rejoining : o.rejoining_when_crashed;
    else if (o.life == Life::removed && !o.replica)
      failed += behind.next() < o.removal_governs;
  }
  return failed;
}

// A removed node that crashed stays down for good, a failure of the
// configurations naming it while some member has not committed the slots
// they govern: it restarts if, with the others failed, that is more than f.
bool World::still_needed(const Node& removed) const {
  return removed.life == Life::removed && members_commit().next() < removed.removal_governs &&
         failed_for_wipes(removed) >= (scenario_.replicas - 1) / 2;
}

// What n's replica says, or (down) what it would recover.
Slot World::commit_of(const Node& n) const {
  return n.replica ? n.replica->info().commit : n.storage.mirror().synced_hard_state().commit;
}
Ballot World::promise_of(const Node& n) const {
  return n.replica ? n.replica->info().promised : n.storage.mirror().synced_hard_state().promised;
}

// The lowest commit index among the members of the latest configuration.
Slot World::members_commit() const {
  Slot low = latest_commit_;
  for (const Node& n : nodes_)
    if (latest_.is_member(n.id)) low = std::min(low, commit_of(n));
  return low;
}

// A removed node comes back (wiped, as a new learner) only when nothing it
// did before can still count. Every node that may vote has promised above
// every ballot it promised, so no candidate can still win on its old promise
// (the core cannot tell its incarnations apart); and every node that runs or
// may run again committed the slots its old configurations govern, so it can
// never vote, forgetful, where it voted before. Not only the members: a
// removed node still running (or crashed, and restarted while still needed)
// that is behind acts on the old configurations too, and with the wiped node
// replaying them from the start, the two formed a quorum of a configuration
// that named both and chose a value again (seed 92357 with --quiesce).
bool World::may_readd(const Node& x) const {
  if (x.replica || members_commit().next() < x.removal_governs) return false;
  for (const Node& n : nodes_)
    if (n.id != x.id && n.life != Life::spare && commit_of(n).next() < x.removal_governs)
      return false;
  Ballot old = checker_.promised_sent(x.id);
  for (const Node& n : nodes_) {
    bool may_vote =
        n.life == Life::member || n.life == Life::joining || (n.life == Life::removed && n.replica);
    if (n.id != x.id && may_vote && !(promise_of(n) > old)) return false;
  }
  return true;
}

}  // namespace synod::sim
