#include "cluster.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "format.h"

namespace synod::script {

namespace {

// Enough for any script: a run that never settles is a livelock to report,
// not to wait out.
constexpr int stabilize_rounds_max = 1000;

// The script host's snapshot: its applied log, one line per slot.
std::string image_of(const std::vector<Entry>& applied) {
  std::string out;
  for (const Entry& e : applied) out += chosen_text(e) + "\n";
  return out;
}

std::string role_text(const ReplicaInfo& i) {
  std::string out = fmt::format("{} is now {}", i.id.value, to_string(i.role));
  if (i.role == Role::leader || i.role == Role::candidate)
    return out + " ballot=" + to_text(i.ballot);
  return out + " leader=" + to_text(i.leader);
}

}  // namespace

// ---- Nodes -----------------------------------------------------------------

void Cluster::add_nodes(std::size_t n, std::size_t spare, const Config& base, Lines& out) {
  if (!nodes_.empty()) throw CommandError("add-nodes: the cluster already exists");
  if (n == 0 || n + spare > 64) throw CommandError(fmt::format("add-nodes: {} nodes (1..64)", n));
  std::vector<NodeId> voters;
  for (std::uint64_t i = 1; i <= n; ++i) voters.push_back(NodeId{i});
  for (std::uint64_t i = 1; i <= n + spare; ++i) {
    NodeId id{i};
    auto node = std::make_unique<Node>();
    node->id = id;
    node->config = base;
    node->config.id = id;
    node->config.voters = voters;
    if (i > n) node->config.learners = {id};
    std::string why;
    if (node->config.validate(&why) != Status::ok) throw CommandError("add-nodes: " + why);
    node->storage = std::make_unique<MemoryStorage>();
    node->replica.emplace(node->config, *node->storage);
    nodes_.push_back(std::move(node));
  }
  for (const auto& node : nodes_) out.push_back(to_text(node->replica->info()));
}

std::vector<NodeId> Cluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& n : nodes_) out.push_back(n->id);
  return out;
}

const Cluster::Node& Cluster::node(NodeId id) const {
  if (!id.valid() || id.value > nodes_.size())
    throw CommandError(fmt::format("no node {} (the cluster has {})", id.value, nodes_.size()));
  return *nodes_[id.value - 1];
}

Cluster::Node& Cluster::node(NodeId id) { return const_cast<Node&>(std::as_const(*this).node(id)); }

Cluster::Node* Cluster::live(NodeId id, Lines& out) {
  Node& n = node(id);
  if (!n.replica) {
    out.push_back(fmt::format("{} is down", id.value));
    return nullptr;
  }
  if (n.halted) {
    out.push_back(fmt::format("{} halted before sync; crash it", id.value));
    return nullptr;
  }
  return &n;
}

void Cluster::note_role(Node& n, const std::string& prefix, const std::string& suffix, Lines& out) {
  ReplicaInfo i = n.replica->info();
  if (i.role == n.role_seen) return;
  n.role_seen = i.role;
  out.push_back(prefix + role_text(i) + suffix);
}

void Cluster::note_durable(Node& n, Ballot promised, Lines& out) {
  if (promised < n.durable_promise)
    out.push_back(fmt::format("!! {} promise went back from {} to {}", n.id.value,
                              to_text(n.durable_promise), to_text(promised)));
  n.durable_promise = std::max(n.durable_promise, promised);
  n.durable_ballots.clear();
  for (const Entry& e : n.storage->entries()) n.durable_ballots[e.slot.value] = e.ballot;
}

void Cluster::check_sent_durable(const Node& n, const Message& m, Lines& out) const {
  if (m.type == MessageType::promise && m.ballot > n.durable_promise)
    out.push_back(fmt::format("!! {} sent a promise of {} while its durable promise is {}",
                              n.id.value, to_text(m.ballot), to_text(n.durable_promise)));
  if (m.type != MessageType::accepted) return;
  Slot commit = n.replica->info().commit;
  for (Slot s = m.slot; s < m.slot_end; s = s.next()) {
    auto it = n.durable_ballots.find(s.value);
    // A slot in the chosen prefix is acknowledged without a new write: it
    // already holds the chosen value, whatever ballot it was stored with.
    bool ok = it != n.durable_ballots.end() && (it->second == m.ballot || s <= commit);
    // So is a slot compacted into the snapshot.
    ok = ok || s < n.replica->info().first_slot;
    if (!ok)
      out.push_back(fmt::format("!! {} sent accepted for slot {} in {} before it was durable",
                                n.id.value, s.value, to_text(m.ballot)));
  }
}

// ---- Driving replicas ------------------------------------------------------

void Cluster::tick(NodeId id, std::uint64_t count, Lines& out) {
  Node* n = live(id, out);
  if (!n) return;
  for (std::uint64_t t = 1; t <= count; ++t) {
    n->replica->tick();
    note_role(*n, "", fmt::format(" (tick {})", t), out);
  }
}

void Cluster::tick_all(std::uint64_t count, Lines& out) {
  for (std::uint64_t t = 1; t <= count; ++t) {
    for (auto& n : nodes_) {
      if (!n->replica || n->halted) continue;
      n->replica->tick();
      note_role(*n, "", fmt::format(" (tick {})", t), out);
    }
  }
}

void Cluster::campaign(NodeId id, Lines& out) {
  Node* n = live(id, out);
  if (!n) return;
  n->replica->campaign();
  note_role(*n, "", "", out);
}

void Cluster::propose(NodeId id, std::string text, Lines& out) {
  Node* n = live(id, out);
  if (!n) return;
  ProposeResult r = n->replica->propose(std::move(text));
  if (r.ok()) {
    out.push_back(fmt::format("ticket={}", r.ticket.value));
  } else if (r.status == Status::not_leader || r.status == Status::rejoining) {
    out.push_back(fmt::format("{} hint={}", to_string(r.status), to_text(r.leader_hint)));
  } else {
    out.push_back(std::string(to_string(r.status)));
  }
}

// ---- The host contract -----------------------------------------------------

bool Cluster::process_ready(NodeId id, bool stop_before_sync, Lines& out) {
  Node* n = live(id, out);
  if (!n) return false;
  if (!n->replica->has_ready()) return false;
  Ready rd = n->replica->ready();
  out.push_back(fmt::format("> {} ready", id.value));
  save_and_sync(*n, rd, stop_before_sync, out);
  if (n->halted) return true;
  // Only now, with promises and accepts durable, may messages leave.
  for (const Message& m : rd.messages) send(*n, m, out);
  if (rd.restore) restore(*n, *rd.restore, out);
  for (const Entry& e : rd.committed) apply(*n, e, out);
  for (const ProposalOutcome& o : rd.outcomes) out.push_back("  outcome " + to_text(o));
  for (const ReadState& r : rd.reads)
    out.push_back(r.ok ? fmt::format("  read ticket={} ok index={}", r.ticket.value, r.index.value)
                       : fmt::format("  read ticket={} refused hint={}", r.ticket.value,
                                     to_text(r.leader_hint)));
  if (rd.membership) out.push_back("  membership " + to_text(*rd.membership));
  n->replica->advance(rd);
  note_role(*n, "  ", "", out);
  return true;
}

void Cluster::save_and_sync(Node& n, const Ready& rd, bool stop_before_sync, Lines& out) {
  // Listed in the order MemoryStorage stages them (snapshot, entries, then
  // the hard state), so `crash ID keep=K` keeps the first K persist lines.
  if (rd.snapshot) {
    out.push_back(fmt::format("  persist snapshot slot={} keep_from={} bytes={}",
                              rd.snapshot->meta.slot.value, rd.keep_from.value,
                              rd.snapshot->data->size()));
    Status s = n.storage->save_snapshot(*rd.snapshot, rd.keep_from);
    if (s != Status::ok) out.push_back(fmt::format("!! save_snapshot failed: {}", to_string(s)));
  }
  for (const Entry& e : rd.entries) out.push_back("  persist entry " + to_text(e));
  if (rd.hard_state) out.push_back("  persist hard_state " + to_text(*rd.hard_state));
  if (rd.hard_state || !rd.entries.empty()) {
    Status s = n.storage->save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
    if (s != Status::ok) out.push_back(fmt::format("!! save failed: {}", to_string(s)));
  }
  if (stop_before_sync) {
    n.halted = true;
    out.push_back(
        fmt::format("  halted before sync ({} unsynced writes)", n.storage->unsynced_writes()));
    return;
  }
  if (!rd.must_sync) return;
  Status s = n.storage->sync();
  if (s != Status::ok) out.push_back(fmt::format("!! sync failed: {}", to_string(s)));
  out.push_back("  sync");
  note_durable(n, n.storage->hard_state().promised, out);
}

void Cluster::send(const Node& from, const Message& m, Lines& out) {
  check_sent_durable(from, m, out);
  std::string line = to_text(m);
  if (!m.to.valid() || m.to.value > nodes_.size()) {
    out.push_back("  dropped " + line + " (no such node)");
    return;
  }
  Node& to = node(m.to);
  if (!to.replica) {
    out.push_back(fmt::format("  dropped {} ({} is down)", line, m.to.value));
    return;
  }
  out.push_back("  " + line);
  to.inbox.push_back(m);
}

void Cluster::apply(Node& n, const Entry& e, Lines& out) {
  out.push_back("  apply " + chosen_text(e));
  Slot expected = n.applied.empty() ? Slot{1} : n.applied.back().slot.next();
  if (e.slot != expected)
    out.push_back(fmt::format("!! {} applied slot {}, expected slot {}", n.id.value, e.slot.value,
                              expected.value));
  n.applied.push_back(e);
  auto [it, first] = chosen_.try_emplace(e.slot.value, e.value);
  if (!first && !(it->second == e.value))
    out.push_back(fmt::format("!! agreement violated at slot {}: {} applied {}, another {}",
                              e.slot.value, n.id.value, to_text(e.value), to_text(it->second)));
}

void Cluster::restore(Node& n, const Snapshot& snap, Lines& out) {
  out.push_back(
      fmt::format("  restore snapshot slot={} bytes={}", snap.meta.slot.value, snap.data->size()));
  std::vector<Entry> rebuilt;
  for (std::uint64_t s = 1; s <= snap.meta.slot.value; ++s) {
    auto it = chosen_.find(s);
    if (it == chosen_.end()) {
      out.push_back(fmt::format("!! restored a snapshot of slot {}, but slot {} was never applied",
                                snap.meta.slot.value, s));
      return;
    }
    rebuilt.push_back(Entry{Slot{s}, Ballot{}, it->second});
  }
  if (image_of(rebuilt) != *snap.data)
    out.push_back(fmt::format("!! the snapshot of slot {} differs from the chosen log",
                              snap.meta.slot.value));
  n.applied = std::move(rebuilt);
}

void Cluster::read(NodeId id, Lines& out) {
  Node* n = live(id, out);
  if (!n) return;
  ProposeResult r = n->replica->read();
  out.push_back(r.ok() ? fmt::format("read ticket={}", r.ticket.value)
                       : fmt::format("{} hint={}", to_string(r.status), to_text(r.leader_hint)));
}

void Cluster::transfer(NodeId id, NodeId to, Lines& out) {
  Node* n = live(id, out);
  if (!n) return;
  out.push_back(fmt::format("transfer {} -> {}: {}", id.value, to.value,
                            to_string(n->replica->transfer_leadership(to))));
}

void Cluster::change(NodeId id, MembershipOp op, NodeId node, Lines& out) {
  Node* n = live(id, out);
  if (!n) return;
  ProposeResult r = n->replica->change_membership(op, node);
  out.push_back(r.ok() ? fmt::format("{} {}: ticket={}", to_string(op), node.value, r.ticket.value)
                       : fmt::format("{} {}: {}", to_string(op), node.value, to_string(r.status)));
}

void Cluster::compact(NodeId id, Lines& out) {
  Node* n = live(id, out);
  if (!n) return;
  Slot slot = n->applied.empty() ? Slot{} : n->applied.back().slot;
  Status s = n->replica->compact(slot, image_of(n->applied));
  out.push_back(fmt::format("compact {} slot={}: {}", id.value, slot.value, to_string(s)));
}

bool Cluster::process_ready_all(Lines& out) {
  bool any = false;
  for (auto& n : nodes_)
    if (n->replica && !n->halted) any |= process_ready(n->id, false, out);
  return any;
}

// ---- The network -----------------------------------------------------------

bool Cluster::deliver(NodeId id, const MessageFilter& f, bool drop, Lines& out) {
  Node& n = node(id);
  if (n.halted) return false;  // a dying process reads nothing more
  std::vector<Message> taken;
  std::deque<Message> kept;
  for (Message& m : n.inbox) {
    if (f.matches(m))
      taken.push_back(std::move(m));
    else
      kept.push_back(std::move(m));
  }
  n.inbox = std::move(kept);
  if (taken.empty()) return false;
  out.push_back(fmt::format("> {} receiving", id.value));
  for (const Message& m : taken) receive(n, m, drop, out);
  return true;
}

void Cluster::receive(Node& n, const Message& m, bool drop, Lines& out) {
  auto pair = std::minmax(m.from.value, m.to.value);
  if (drop) {
    out.push_back("  dropped " + to_text(m));
  } else if (cut_.contains({pair.first, pair.second})) {
    out.push_back("  dropped " + to_text(m) + " (partition)");
  } else {
    out.push_back("  " + to_text(m));
    n.replica->step(m);
    note_role(n, "  ", "", out);
  }
}

bool Cluster::deliver_all(const MessageFilter& f, bool drop, Lines& out) {
  bool any = false;
  for (auto& n : nodes_) any |= deliver(n->id, f, drop, out);
  return any;
}

void Cluster::stabilize(Lines& out) {
  for (int round = 0; round < stabilize_rounds_max; ++round) {
    bool readied = process_ready_all(out);
    bool delivered = deliver_all(MessageFilter{}, false, out);
    if (!readied && !delivered) return;
  }
  throw CommandError(fmt::format("stabilize: still busy after {} rounds", stabilize_rounds_max));
}

void Cluster::partition(NodeId a, NodeId b) {
  node(a), node(b);  // both must exist
  auto pair = std::minmax(a.value, b.value);
  cut_.insert({pair.first, pair.second});
}

// ---- Failures --------------------------------------------------------------

void Cluster::crash(NodeId id, std::size_t keep_unsynced, Lines& out) {
  Node& n = node(id);
  if (!n.replica) throw CommandError(fmt::format("crash: {} is already down", id.value));
  std::size_t unsynced = n.storage->unsynced_writes();
  std::size_t kept = std::min(keep_unsynced, unsynced);
  n.storage->crash(keep_unsynced);
  n.replica.reset();
  n.halted = false;
  n.applied.clear();
  out.push_back(
      fmt::format("{} crashed: unsynced writes kept={} lost={}", id.value, kept, unsynced - kept));
  for (const Message& m : n.inbox) out.push_back("  dropped " + to_text(m));
  n.inbox.clear();
}

void Cluster::restart(NodeId id, bool join, Lines& out) {
  Node& n = node(id);
  if (n.replica) throw CommandError(fmt::format("restart: {} is up; crash it first", id.value));
  Config c = n.config;
  c.join_existing = join;
  n.replica.emplace(c, *n.storage);
  ReplicaInfo i = n.replica->info();
  n.role_seen = i.role;
  out.push_back(to_text(i));
  note_durable(n, i.promised, out);
}

void Cluster::wipe(NodeId id, Lines& out) {
  Node& n = node(id);
  if (n.replica) crash(id, 0, out);
  n.storage->wipe();
  // The lost promise is the rejoin protocol's problem now: this node starts
  // from nothing and must not vote until it has rejoined.
  n.durable_promise = Ballot{};
  n.durable_ballots.clear();
  out.push_back(fmt::format("{} wiped", id.value));
}

// ---- Inspection ------------------------------------------------------------

void Cluster::status(std::optional<NodeId> id, Lines& out) const {
  if (id) node(*id);  // an unknown id is a script error
  for (const auto& n : nodes_) {
    if (id && n->id != *id) continue;
    if (!n->replica)
      out.push_back(fmt::format("{}: down", n->id.value));
    else
      out.push_back(to_text(n->replica->info()) + (n->halted ? " (halted)" : ""));
  }
}

void Cluster::log(NodeId id, Lines& out) const {
  const Node& n = node(id);
  if (!n.replica) {
    out.push_back(fmt::format("{} is down", id.value));
    return;
  }
  if (n.applied.empty()) out.push_back("nothing applied");
  for (const Entry& e : n.applied) out.push_back(chosen_text(e));
}

}  // namespace synod::script
