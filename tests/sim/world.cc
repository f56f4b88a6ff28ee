#include "world.h"

#include <fmt/format.h>

#include <cstdio>

namespace synod::sim {

World::World(const Options& opt)
    : opt_(opt),
      scenario_(draw_scenario(opt.seed, opt.replicas, opt.fault_ticks)),
      net_(opt.seed * 31 + 17),
      checker_(scenario_.replicas),
      trace_(opt.trace_keep),
      clients_(3),
      rng_(opt.seed * 0x9e3779b97f4a7c15ULL + 3) {
  net_.set_faults(scenario_.faults);
  nodes_.reserve(scenario_.replicas);
  for (std::size_t i = 0; i < scenario_.replicas; ++i) {
    nodes_.emplace_back(scenario_.log_storage);
    nodes_.back().id = NodeId{i + 1};
  }
}

Config World::config_for(NodeId id, bool join) const {
  Config c;
  c.id = id;
  for (const Node& n : nodes_) c.voters.push_back(n.id);
  c.election_ticks = 10;
  c.heartbeat_ticks = 2;
  c.max_inflight = 16;
  c.batch_count_max = 4;
  c.message_bytes_max = 1u << 12;
  c.batch_bytes_max = 1u << 10;
  c.pending_bytes_max = 1u << 16;
  if (scenario_.snapshots) {
    c.compaction_tail = scenario_.compaction_tail;
    c.snapshot_chunk_bytes = scenario_.snapshot_chunk_bytes;
  }
  c.seed = opt_.seed * 1000 + id.value * 10 + nodes_[id.value - 1].incarnation;
  c.join_existing = join;
  c.planted_bug = opt_.bug;
  return c;
}

void World::trace(std::string line) {
  if (opt_.verbose) fmt::print("{}\n", line);
  trace_.add(std::move(line));
}

std::string World::describe(const Message& m) const {
  std::string entries;
  if (!m.entries.empty()) {
    const Entry& e = m.entries.front();
    entries = fmt::format(" [{}@{}.{}:{}{}]", e.slot.value, e.ballot.round, e.ballot.node.value,
                          e.value.is_noop() ? "noop" : e.value.commands().front(),
                          m.entries.size() > 1 ? ",..." : "");
  }
  return fmt::format("{}->{} {} b={}.{} s={}..{} c={} n={}{}{}", m.from.value, m.to.value,
                     to_string(m.type), m.ballot.round, m.ballot.node.value, m.slot.value,
                     m.slot_end.value, m.commit.value, m.entries.size(), m.more ? " more" : "",
                     entries);
}

void World::start(Node& n, bool wipe) {
  // Losing state is a failure: with f replicas already rejoining, another
  // wipe would leave no quorum that remembers (the scenario keeps within f).
  std::size_t amnesiacs = 0;
  for (const Node& o : nodes_)
    if (o.id != n.id)
      amnesiacs += o.replica ? o.replica->info().role == Role::rejoining : o.rejoining_when_crashed;
  if (wipe && amnesiacs >= (nodes_.size() - 1) / 2) wipe = false;
  if (wipe) n.storage.wipe();
  ++n.incarnation;
  // A wiped replica says the cluster already exists, so it rejoins before
  // it votes. A crashed one whose storage is empty never synced anything, so
  // never voted, and may start fresh (a host that knows its disk survived).
  // Every fourth seed starts the whole cluster as joiners (all empty: a new
  // cluster, as in-memory hosts do).
  bool join = wipe || (n.incarnation == 1 && opt_.seed % 4 == 0);
  n.app_applied = Slot{};
  n.digest = 0;
  n.background.reset();
  n.replica.emplace(config_for(n.id, join), n.storage.storage());
  checker_.on_start(n.id, wipe);
  net_.set_down(n.id, false);
  trace(fmt::format("t={} start {}{}", now_, n.id.value, wipe ? " wiped" : ""));
  process_ready(n);
}

void World::crash(Node& n, bool mid_ready, std::size_t keep) {
  if (!n.replica) return;
  if (mid_ready && n.replica->has_ready()) {
    n.crash_mid_ready = true;
    n.keep_unsynced = keep;
    process_ready(n);  // crashes between save and sync
    return;
  }
  n.rejoining_when_crashed = n.replica->info().role == Role::rejoining;
  n.replica.reset();
  n.staged.clear();  // never synced: never sent
  n.storage.crash(keep);
  n.crash_mid_ready = false;
  net_.set_down(n.id, true);
  // The process died: its clients never hear back, so for them it is unknown.
  for (auto& [ticket, p] : n.pending) client_done(p.client, false);
  n.pending.clear();
  for (auto& [ticket, r] : n.reads) clients_[r.first].outstanding = false;
  n.reads.clear();
  trace(fmt::format("t={} crash {} keep={}", now_, n.id.value, keep));
}

void World::process_ready(Node& n) {
  while (n.replica && n.replica->has_ready()) {
    Ready rd = n.replica->ready();
    if (scenario_.early_accepts)  // in parallel with the write (ready.h)
      for (const Message& m : rd.messages)
        if (may_send_before_persist(m)) send(n, m);
    if (rd.snapshot) n.storage.save_snapshot(*rd.snapshot, rd.keep_from);
    n.storage.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
    if (n.crash_mid_ready) {
      n.crash_mid_ready = false;
      crash(n, false, n.keep_unsynced);
      return;
    }
    n.staged.push_back(std::move(rd));
    // A pipelined host (group commit) takes more Readys before one sync
    // finishes them all, in order.
    if (!scenario_.pipelined || (rng_++ % 3) == 0) finish_staged(n);
  }
  if (n.replica) checker_.on_promise_seen(n.id, n.replica->info().promised);
}

void World::send(Node& n, const Message& m) {
  checker_.on_send(n.id, m, n.storage.mirror());
  trace(fmt::format("t={} send {}", now_, describe(m)));
  net_.send(now_, n.id, m.to, m);
}

void World::finish_staged(Node& n) {
  if (n.staged.empty()) return;
  n.storage.sync();
  while (n.replica && !n.staged.empty()) {
    Ready rd = std::move(n.staged.front());
    n.staged.pop_front();
    for (const Message& m : rd.messages)
      if (!scenario_.early_accepts || !may_send_before_persist(m)) send(n, m);
    apply(n, rd);
    for (const ProposalOutcome& o : rd.outcomes) handle_outcome(n, o);
    for (const ReadState& r : rd.reads) {
      auto it = n.reads.find(r.ticket.value);
      if (it == n.reads.end()) throw CheckFailure("a read state for an unknown ticket");
      checker_.on_read(n.id, r, it->second.second);
      trace(fmt::format("t={} read {} ticket {} {} index {}", now_, n.id.value, r.ticket.value,
                        r.ok ? "ok" : "failed", r.index.value));
      clients_[it->second.first].outstanding = false;
      n.reads.erase(it);
    }
    n.replica->advance(rd);
  }
  if (n.replica) maybe_snapshot(n);
}

namespace {
std::uint64_t mix(std::uint64_t h, const std::string& bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return (h ^ 0xff) * 0x100000001b3ULL;
}
}  // namespace

void World::apply(Node& n, const Ready& rd) {
  if (rd.restore) {
    const std::string& data = *rd.restore->data;
    std::uint64_t slot = 0, digest = 0;
    if (std::sscanf(data.c_str(), "%lu:%lu:", &slot, &digest) != 2 ||
        slot != rd.restore->meta.slot.value)
      throw CheckFailure(fmt::format("node {} got a snapshot it cannot read", n.id.value));
    checker_.on_restore(n.id, rd.restore->meta.slot, digest);
    n.app_applied = rd.restore->meta.slot;
    n.digest = digest;
    trace(fmt::format("t={} restore {} slot {} ({} bytes)", now_, n.id.value, slot, data.size()));
  }
  for (const Entry& e : rd.committed) {
    checker_.on_apply(n.id, e);
    for (const std::string& c : e.value.commands()) n.digest = mix(n.digest, c);
    n.digest = mix(n.digest, std::to_string(e.slot.value));
    n.app_applied = e.slot;
    checker_.on_state(n.id, e.slot, n.digest);
  }
}

// The host's image of its state machine: slot and digest, then filler so a
// transfer takes several chunks.
std::string World::snapshot_data(const Node& n) {
  std::string data = fmt::format("{}:{}:", n.app_applied.value, n.digest);
  data.append(rng_++ % 300, static_cast<char>('a' + n.app_applied.value % 26));
  return data;
}

void World::maybe_snapshot(Node& n) {
  if (!scenario_.snapshots) return;
  if (n.background && now_ >= n.background_due) {
    auto [slot, data] = std::move(*n.background);
    n.background.reset();
    Status s = n.replica->compact(slot, std::move(data));
    // Refused only when a snapshot installed meanwhile overtook it.
    if (s != Status::ok && slot > n.replica->info().snapshot)
      throw CheckFailure(
          fmt::format("node {}: compact({}) refused: {}", n.id.value, slot.value, to_string(s)));
    trace(fmt::format("t={} compact {} slot {} (background): {}", now_, n.id.value, slot.value,
                      to_string(s)));
    process_ready(n);
    return;
  }
  if (n.background || n.app_applied <= n.replica->info().snapshot) return;
  if (rng_++ % 100 >= scenario_.snapshot_percent) return;
  if (scenario_.background_snapshots && rng_++ % 2 == 0) {
    n.background = {n.app_applied, snapshot_data(n)};
    n.background_due = now_ + 1 + rng_++ % 200;
    return;
  }
  Status s = n.replica->compact(n.app_applied, snapshot_data(n));
  if (s != Status::ok)
    throw CheckFailure(fmt::format("node {}: compact({}) refused: {}", n.id.value,
                                   n.app_applied.value, to_string(s)));
  trace(fmt::format("t={} compact {} slot {}", now_, n.id.value, n.app_applied.value));
  process_ready(n);
}

void World::handle_outcome(Node& n, const ProposalOutcome& o) {
  auto it = n.pending.find(o.ticket.value);
  if (it == n.pending.end())
    throw CheckFailure(fmt::format("node {}: outcome for an unknown ticket", n.id.value));
  Pending p = std::move(it->second);
  n.pending.erase(it);
  checker_.on_outcome(n.id, o, p.payload);
  trace(fmt::format("t={} outcome {} ticket {} {}", now_, n.id.value, o.ticket.value,
                    to_string(o.outcome)));
  if (o.outcome == Outcome::not_leader) {
    // Certainly never applied: the same command may be retried elsewhere.
    Client& c = clients_[p.client];
    c.outstanding = false;
    c.target = o.leader_hint.valid() ? o.leader_hint : NodeId{rng_++ % nodes_.size() + 1};
    return;
  }
  client_done(p.client, o.outcome == Outcome::committed);
}

void World::client_done(std::size_t c, bool committed) {
  Client& cl = clients_[c];
  cl.outstanding = false;
  cl.payload.clear();  // committed or unknown: never resend it
  if (faults_over_ && cl.quota_after_faults > 0 && committed) --cl.quota_after_faults;
}

void World::clients_act() {
  for (std::size_t c = 0; c < clients_.size(); ++c) {
    Client& cl = clients_[c];
    if (cl.outstanding || (faults_over_ && cl.quota_after_faults == 0)) continue;
    if (cl.payload.empty()) cl.payload = fmt::format("c{}.{}", c, ++cl.seq);
    if (!cl.target.valid()) cl.target = NodeId{(c + now_) % nodes_.size() + 1};
    Node& n = node(cl.target);
    if (!n.replica) {
      cl.target = NodeId{cl.target.value % nodes_.size() + 1};
      continue;
    }
    if (rng_++ % 4 == 0) {
      // A linearizable read, often of a node picked at random (a client with
      // a stale idea of the leader): it must see every write acknowledged.
      Node& rn = rng_++ % 2 ? n : nodes_[rng_++ % nodes_.size()];
      ProposeResult rr =
          rn.replica ? rn.replica->read() : ProposeResult{Status::unavailable, {}, {}};
      if (rr.ok()) {
        cl.outstanding = true;
        rn.reads[rr.ticket.value] = {c, checker_.acknowledged_floor()};
        process_ready(rn);
        continue;
      }
    }
    ProposeResult r = n.replica->propose(cl.payload);
    if (!r.ok()) {
      cl.target = r.leader_hint.valid() && r.leader_hint != cl.target
                      ? r.leader_hint
                      : NodeId{cl.target.value % nodes_.size() + 1};
      continue;
    }
    cl.outstanding = true;
    n.pending[r.ticket.value] = Pending{c, cl.payload};
    process_ready(n);
  }
}

void World::apply_event(const Event& e) {
  if (e.kind == EventKind::isolate_leader) {
    for (Node& l : nodes_) {
      if (!l.replica || l.replica->info().role != Role::leader) continue;
      for (Node& o : nodes_)
        if (o.id != l.id) net_.partition(l.id, o.id);
      trace(fmt::format("t={} isolate leader {}", now_, l.id.value));
      Event heal = e;
      heal.kind = EventKind::heal_leader;
      heal.tick = e.until;
      heal.node = l.id;
      late_events_.push_back(heal);
      break;
    }
    return;
  }
  if (e.kind == EventKind::transfer) {
    for (Node& l : nodes_) {
      if (!l.replica || l.replica->info().role != Role::leader || l.id == e.node) continue;
      Status s = l.replica->transfer_leadership(e.node);
      trace(
          fmt::format("t={} transfer {} -> {}: {}", now_, l.id.value, e.node.value, to_string(s)));
      process_ready(l);
    }
    return;
  }
  Node& n = node(e.node);
  switch (e.kind) {
    case EventKind::isolate_leader:
    case EventKind::transfer:
      break;
    case EventKind::heal_leader:
      for (Node& o : nodes_)
        if (o.id != n.id) net_.unblock(n.id, o.id), net_.unblock(o.id, n.id);
      break;
    case EventKind::crash:
      crash(n, e.mid_ready, e.keep_unsynced);
      break;
    case EventKind::restart:
      if (!n.replica) start(n, e.wipe);
      break;
    case EventKind::block:
      net_.block(e.node, e.peer);
      break;
    case EventKind::unblock:
      net_.unblock(e.node, e.peer);
      break;
  }
}

void World::enter_liveness_phase() {
  faults_over_ = true;
  net_.set_faults(NetworkFaults{0, 0, 1, 5});
  net_.heal();
  for (Node& n : nodes_)
    if (!n.replica) start(n, false);
  trace(fmt::format("t={} faults over", now_));
}

bool World::settled() const {
  Slot top{};
  for (const Node& n : nodes_) {
    if (!n.replica) return false;
    ReplicaInfo i = n.replica->info();
    if (i.role == Role::rejoining) return false;
    top = std::max(top, i.commit);
  }
  for (const Node& n : nodes_)
    if (n.replica->info().applied != top) return false;
  for (const Client& c : clients_)
    if (c.outstanding || c.quota_after_faults > 0) return false;
  return true;
}

Result World::run() {
  Result res;
  res.scenario = scenario_.describe();
  std::size_t next_event = 0;
  const std::uint64_t deadline = (scenario_.fault_ticks + opt_.liveness_ticks) * kStepsPerTick;
  try {
    for (Node& n : nodes_) start(n, false);
    for (now_ = 0; now_ < deadline; ++now_) {
      net_.deliver_due(now_, [&](auto& d) {
        Node& n = node(d.to);
        if (!n.replica) return;
        trace(fmt::format("t={} recv {}", now_, describe(d.payload)));
        n.replica->step(d.payload);
        process_ready(n);
      });
      for (Node& n : nodes_) {
        // Nodes tick at different phases and, in some seeds, rates.
        std::uint64_t period = scenario_.tick_steps[n.id.value - 1];
        if (!n.replica || (now_ + n.id.value * 3) % period != 0) continue;
        finish_staged(n);
        n.replica->tick();
        process_ready(n);
      }
      if (now_ % kStepsPerTick != 0) continue;
      std::uint64_t tick = now_ / kStepsPerTick;
      while (next_event < scenario_.events.size() && scenario_.events[next_event].tick <= tick)
        apply_event(scenario_.events[next_event++]);
      for (std::size_t i = 0; i < late_events_.size();) {
        if (late_events_[i].tick > tick) {
          ++i;
          continue;
        }
        Event e = late_events_[i];
        late_events_.erase(late_events_.begin() + static_cast<std::ptrdiff_t>(i));
        apply_event(e);
      }
      if (tick == scenario_.fault_ticks) enter_liveness_phase();
      clients_act();
      if (faults_over_ && settled()) break;
    }
    if (now_ >= deadline) {
      std::string roles;
      for (const Node& n : nodes_) {
        ReplicaInfo i = n.replica->info();
        roles += fmt::format(" {}:{}/c{}/a{}", n.id.value, to_string(i.role), i.commit.value,
                             i.applied.value);
      }
      throw CheckFailure(fmt::format("liveness: not settled {} ticks after faults stopped;{}",
                                     opt_.liveness_ticks, roles));
    }
    checker_.final_check();
  } catch (const std::exception& e) {
    res.ok = false;
    res.failure = e.what();
  }
  res.trace_hash = trace_.hash();
  res.events = trace_.events();
  res.chosen_slots = checker_.chosen_slots();
  res.acknowledged = checker_.acknowledged();
  res.ticks = now_ / kStepsPerTick;
  res.last_events.assign(trace_.last().begin(), trace_.last().end());
  return res;
}

Result run(const Options& opt) { return World(opt).run(); }

}  // namespace synod::sim
