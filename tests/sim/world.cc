#include "world.h"

#include <fmt/format.h>

namespace synod::sim {

namespace {
// Voters 1..replicas: the configuration slot 1 starts with.
Membership initial_membership(std::size_t replicas) {
  Membership m;
  for (std::size_t i = 1; i <= replicas; ++i) m.voters.push_back(NodeId{i});
  return m;
}
}  // namespace

World::World(const Options& opt)
    : opt_(opt),
      scenario_(draw_scenario(opt.seed, opt.replicas, opt.fault_ticks)),
      net_(opt.seed * 31 + 17),
      checker_(scenario_.nodes(), initial_membership(scenario_.replicas), scenario_.alpha),
      trace_(opt.trace_keep),
      clients_(3),
      rng_(opt.seed * 0x9e3779b97f4a7c15ULL + 3) {
  net_.set_faults(scenario_.faults);
  // Every replica of this world is constructed with the bug planted (or none).
  testing::plant_bug(opt_.bug);
  latest_ = initial_membership(scenario_.replicas);
  nodes_.reserve(scenario_.nodes());
  for (std::size_t i = 0; i < scenario_.nodes(); ++i) {
    Node& n = nodes_.emplace_back(scenario_.log_storage);
    n.id = NodeId{i + 1};
    n.tick_steps = scenario_.tick_steps[i];
    n.voters = latest_.voters;
    n.maybe_voter = i < scenario_.replicas;
    n.life = i < scenario_.replicas ? Life::member : Life::spare;
    if (n.life == Life::spare) net_.set_down(n.id, true);
  }
  for (std::size_t k = 0; k < scenario_.keys; ++k) keys_.push_back(fmt::format("k{}", k));
  heard_at_.assign(nodes_.size(), std::vector<std::uint64_t>(nodes_.size(), 0));
}

Config World::config_for(const Node& n) const {
  Config c;
  c.id = n.id;
  c.voters = n.voters;
  c.learners = n.learners;
  c.election_ticks = 10;
  c.heartbeat_ticks = 2;
  c.max_inflight = scenario_.max_inflight;
  c.alpha = scenario_.alpha;
  c.promote_lag = scenario_.promote_lag;
  c.lease_reads = scenario_.lease_reads;
  c.max_drift_ticks = 2;
  c.batch_count_max = 4;
  c.message_bytes_max = 1u << 12;
  c.batch_bytes_max = 1u << 10;
  c.pending_bytes_max = 1u << 16;
  if (scenario_.snapshots) {
    c.compaction_tail = scenario_.compaction_tail;
    c.compaction_tail_bytes = scenario_.compaction_tail_bytes;
    c.snapshot_chunk_bytes = scenario_.snapshot_chunk_bytes;
  }
  // Every start its own seed (nonces and read ids must not repeat).
  c.seed = opt_.seed * 1'000'000 + n.id.value * 1000 + n.incarnation;
  c.join_existing = n.join;
  c.quiesce = opt_.quiesce;
  return c;
}

void World::emit() {
  std::string_view line(line_.data(), line_.size());
  if (opt_.verbose) fmt::print("{}\n", line);
  trace_.add(line);
}

namespace {
void put(fmt::memory_buffer& b, std::string_view s) { b.append(s.data(), s.data() + s.size()); }
void put(fmt::memory_buffer& b, std::uint64_t v) {
  fmt::format_int f(v);
  b.append(f.data(), f.data() + f.size());
}
}  // namespace

// One line per message, appended piece by piece: tracing is most of the
// simulator's time, and a format string parsed per message costs a third.
void World::trace_message(std::string_view what, const Message& m) {
  fmt::memory_buffer& b = line_;
  b.clear();
  put(b, "t="), put(b, now_), put(b, " "), put(b, what), put(b, " ");
  put(b, m.from.value), put(b, "->"), put(b, m.to.value), put(b, " "), put(b, to_string(m.type));
  put(b, " b="), put(b, m.ballot.round), put(b, "."), put(b, m.ballot.node.value);
  put(b, " s="), put(b, m.slot.value), put(b, ".."), put(b, m.slot_end.value);
  put(b, " c="), put(b, m.commit.value), put(b, " n="), put(b, m.entries.size());
  if (m.offset || !m.payload.empty())
    put(b, " off="), put(b, m.offset), put(b, "+"), put(b, m.payload.size());
  if (m.more) put(b, " more");
  if (m.quiesce) put(b, " quiesce");
  if (!m.entries.empty()) {
    const Entry& e = m.entries.front();
    put(b, " ["), put(b, e.slot.value), put(b, "@"), put(b, e.ballot.round), put(b, ".");
    put(b, e.ballot.node.value), put(b, ":");
    put(b, e.value.is_noop()     ? std::string_view("noop")
           : e.value.is_config() ? std::string_view("config")
                                 : std::string_view(e.value.commands().front()));
    put(b, m.entries.size() > 1 ? ",...]" : "]");
  }
  emit();
}

void World::start(Node& n, bool wipe) {
  // Losing state is a failure: with f replicas already rejoining (or gone
  // for good), another wipe would leave no quorum that remembers (the
  // scenario keeps within f). No configuration has fewer voters than the
  // initial one, so its f holds for every configuration.
  if (wipe && failed_for_wipes(n) >= (scenario_.replicas - 1) / 2) wipe = false;
  // A wiped replica says the cluster already exists, so it rejoins before
  // it votes. A crashed one whose storage is empty never synced anything, so
  // never voted, and may start fresh (a host that knows its disk survived).
  // Every fourth seed starts the whole cluster as joiners (all empty: a new
  // cluster, as in-memory hosts do).
  n.join = wipe || (n.incarnation == 0 && opt_.seed % 4 == 0);
  if (wipe) {
    n.storage.wipe();
    fresh_command_line(n);
  }
  boot(n, wipe);
}

// Starts n's replica on its storage and command line. fresh: its storage was
// lost (wiped, or a new join).
void World::boot(Node& n, bool fresh) {
  ++n.incarnation;
  n.kv = KvMachine{};
  n.background.reset();
  n.replica.emplace(config_for(n), n.storage.storage());
  checker_.on_start(n.id, fresh);
  net_.set_down(n.id, false);
  trace("t={} start {}{}", now_, n.id.value, fresh ? " wiped" : "");
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
  forget_client_ops(n);
  trace("t={} crash {} keep={}", now_, n.id.value, keep);
}

void World::process_ready(Node& n) {
  while (n.replica && n.replica->has_ready()) {
    Ready rd = n.replica->ready();
    bool awake = !n.replica->quiesced();
    if (rd.membership) trace("t={} membership {}: {}", now_, n.id.value, describe(*rd.membership));
    if (scenario_.early_accepts)  // in parallel with the write (ready.h)
      for (const Message& m : rd.messages)
        if (may_send_before_persist(m)) send(n, m, awake);
    // A chosen value needs no local durability to apply (docs/protocol.md,
    // "Durability"): with early_apply it applies, and its proposer hears,
    // before the save, so a crash mid-Ready loses an answered command here.
    bool applied = scenario_.early_apply && !rd.restore && !rd.membership &&
                   (n.staged.empty() || n.staged.back().applied);
    if (applied) {
      apply(n, rd);
      for (const ProposalOutcome& o : rd.outcomes)
        if (o.outcome == Outcome::committed) handle_outcome(n, o);
      serve_reads(n);
    }
    if (rd.snapshot) n.storage.save_snapshot(*rd.snapshot, rd.keep_from);
    n.storage.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
    if (n.crash_mid_ready) {
      n.crash_mid_ready = false;
      crash(n, false, n.keep_unsynced);
      return;
    }
    n.staged.push_back({std::move(rd), applied, awake});
    // A pipelined host (group commit) takes more Readys before one sync
    // finishes them all, in order.
    if (!scenario_.pipelined || (rng_++ % 3) == 0) finish_staged(n);
  }
  if (n.replica) checker_.on_promise_seen(n.id, n.replica->info().promised);
}

void World::send(Node& n, const Message& m, bool sender_awake) {
  checker_.on_send(n.id, m, n.storage.mirror());
  if (m.type == MessageType::accept) note_voters(m);
  trace_message("send", m);
  net_.send(now_, n.id, m.to, Packet{m, sender_awake});
}

void World::finish_staged(Node& n) {
  if (n.staged.empty()) return;
  n.storage.sync();
  while (n.replica && !n.staged.empty()) {
    auto [rd, applied, awake] = std::move(n.staged.front());
    n.staged.pop_front();
    for (const Message& m : rd.messages)
      if (!scenario_.early_accepts || !may_send_before_persist(m)) send(n, m, awake);
    if (!applied) apply(n, rd);
    for (const ProposalOutcome& o : rd.outcomes)
      if (!applied || o.outcome != Outcome::committed) handle_outcome(n, o);
    for (const ReadState& r : rd.reads) handle_read_state(n, r);
    serve_reads(n);
    note_own_votes(n, rd);
    n.replica->advance(rd);
  }
  if (n.replica) maybe_snapshot(n);
}

// A leader counts its own acceptance once durable, at advance(), for the
// entries of the ballot it leads: so does the checker.
void World::note_own_votes(Node& n, const Ready& rd) {
  bool own = false;
  for (const Entry& e : rd.entries) own |= e.ballot.node == n.id;
  if (!own) return;
  ReplicaInfo i = n.replica->info();
  if (i.role != Role::leader) return;
  for (const Entry& e : rd.entries)
    if (e.ballot == i.ballot) checker_.on_own_vote(n.id, e);
}

void World::apply(Node& n, const Ready& rd) {
  if (rd.restore) {
    const std::string& data = *rd.restore->data;
    std::optional<KvMachine> kv = KvMachine::from_image(data);
    if (!kv || kv->applied() != rd.restore->meta.slot)
      throw CheckFailure(
          fmt::format("node {} got a snapshot of slot {} it cannot read ({} bytes: {:?})",
                      n.id.value, rd.restore->meta.slot.value, data.size(), data.substr(0, 80)));
    checker_.on_restore(n.id, rd.restore->meta.slot, kv->digest());
    n.kv = std::move(*kv);
    trace("t={} restore {} slot {} ({} bytes, {} keys)", now_, n.id.value, n.kv.applied().value,
          data.size(), n.kv.keys());
  }
  for (const Entry& e : rd.committed) {
    checker_.on_apply(n.id, e);
    if (!n.kv.apply(e))
      throw CheckFailure(fmt::format("node {}: slot {} holds a command that is not a write",
                                     n.id.value, e.slot.value));
    checker_.on_state(n.id, e.slot, n.kv.digest());
  }
}

// The host's image of its state machine, with filler so a transfer takes
// several chunks. Its length is drawn, so two replicas' images of one slot
// differ, as those of a host without a canonical encoding do: an install
// must never splice two of them (the image's checksum would fail).
std::string World::snapshot_data(const Node& n) { return n.kv.image(rng_++ % 300); }

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
    trace("t={} compact {} slot {} (background): {}", now_, n.id.value, slot.value, to_string(s));
    process_ready(n);
    return;
  }
  if (n.background || n.kv.applied() <= n.replica->info().snapshot) return;
  if (rng_++ % 100 >= scenario_.snapshot_percent) return;
  if (scenario_.background_snapshots && rng_++ % 2 == 0) {
    n.background = {n.kv.applied(), snapshot_data(n)};
    n.background_due = now_ + 1 + rng_++ % 200;
    return;
  }
  Status s = n.replica->compact(n.kv.applied(), snapshot_data(n));
  if (s != Status::ok)
    throw CheckFailure(fmt::format("node {}: compact({}) refused: {}", n.id.value,
                                   n.kv.applied().value, to_string(s)));
  trace("t={} compact {} slot {}", now_, n.id.value, n.kv.applied().value);
  process_ready(n);
}

void World::apply_event(const Event& e) {
  if (e.kind == EventKind::isolate_leader) {
    for (Node& l : nodes_) {
      if (!l.replica || l.replica->info().role != Role::leader) continue;
      for (Node& o : nodes_)
        if (o.id != l.id) net_.partition(l.id, o.id);
      // A node cut off is often a node stalled too (a GC pause, a stolen
      // VM): its clock runs slow, so it learns late that it was deposed.
      if (e.slow_tick_steps > l.tick_steps) l.tick_steps = e.slow_tick_steps;
      trace("t={} isolate leader {} (tick every {} steps)", now_, l.id.value, l.tick_steps);
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
    transfer(e);
    return;
  }
  if (e.kind == EventKind::change) {
    changes_.push_back(Change{e.op, e.pick, e.voters_only, {}, e.tick + 400});
    return;
  }
  Node& n = node(e.node);
  switch (e.kind) {
    case EventKind::isolate_leader:
    case EventKind::transfer:
    case EventKind::change:
      break;
    case EventKind::heal_leader:
      for (Node& o : nodes_)
        if (o.id != n.id) net_.unblock(n.id, o.id), net_.unblock(o.id, n.id);
      n.tick_steps = scenario_.tick_steps[n.id.value - 1];
      break;
    case EventKind::crash:
      crash(n, e.mid_ready, e.keep_unsynced);
      break;
    case EventKind::restart:
      // A removed node stays down (it comes back only as a new joiner)
      // unless the configurations naming it still need it; a spare starts
      // when it is added.
      if (!n.replica && (n.life == Life::member || n.life == Life::joining || still_needed(n)))
        start(n, e.wipe);
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
  changes_.clear();  // changes asked of a leader still finish
  for (Node& n : nodes_)
    if (!n.replica && (n.life == Life::member || n.life == Life::joining || still_needed(n)))
      start(n, false);
  trace("t={} faults over", now_);
}

// Every member of the latest configuration (voters and learners) runs, votes
// if it may, and applied the highest commit index; removed nodes and spares
// never added are not waited for.
bool World::settled() {
  for (const Client& c : clients_)
    if (c.op || c.quota_after_faults > 0) return false;
  observe_membership();
  Slot top{};
  for (const Node& n : nodes_) {
    if (!latest_.is_member(n.id)) continue;
    if (!n.replica) return false;
    ReplicaInfo i = n.replica->info();
    // A rejoining voter must finish (campaign, lead, vote again). A rejoining
    // learner cannot campaign and has nothing to finish: it was restarted as
    // a voter because a proposed configuration named it one (maybe_voter),
    // but none chosen did, and it keeps voting off until one does (seed
    // 102154: the promotion of an add_voter was lost with a leader change).
    if (i.role == Role::rejoining && latest_.is_voter(n.id)) return false;
    top = std::max(top, i.commit);
  }
  for (const Node& n : nodes_)
    if (latest_.is_member(n.id) && n.replica->info().applied != top) return false;
  return true;
}

Result World::run() {
  Result res;
  res.scenario = scenario_.describe();
  std::size_t next_event = 0;
  const std::uint64_t deadline = (scenario_.fault_ticks + opt_.liveness_ticks) * kStepsPerTick;
  try {
    for (Node& n : nodes_)
      if (n.life == Life::member) start(n, false);
    for (now_ = 0; now_ < deadline; ++now_) {
      net_.deliver_due(now_, [&](auto& d) {
        Node& n = node(d.to);
        if (!n.replica) return;
        if (opt_.quiesce) note_heard(d.to, d.from);
        if (d.payload.msg.type == MessageType::node_heartbeat) return;  // the host's own
        trace_message("recv", d.payload.msg);
        n.replica->step(d.payload.msg);
        process_ready(n);
      });
      for (Node& n : nodes_) {
        // Nodes tick at different phases and, in some seeds, rates.
        if (!n.replica || (now_ + n.id.value * 3) % n.tick_steps != 0) continue;
        finish_staged(n);
        if (opt_.quiesce) host_wakes(n);
        n.replica->tick();
        process_ready(n);
      }
      if (now_ % kStepsPerTick != 0) continue;
      std::uint64_t tick = now_ / kStepsPerTick;
      if (opt_.quiesce) node_heartbeats();
      if (settled_at_ != 0) {
        if (quiet_enough()) break;
        continue;
      }
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
      if (scenario_.forgeries && !faults_over_) forge(tick);
      if (tick == scenario_.fault_ticks) enter_liveness_phase();
      track_membership();
      try_change();
      clients_act();
      if (faults_over_ && settled()) {
        if (!opt_.quiesce) break;
        settled_at_ = tick;
        trace("t={} settled; waiting for the group to quiesce", now_);
      }
    }
    if (now_ >= deadline) {
      std::string roles;
      for (const Node& n : nodes_) roles += " " + describe_life(n);
      std::string clients;
      for (std::size_t c = 0; c < clients_.size(); ++c)
        clients += fmt::format(" {}:{}->{}/{} left", c, clients_[c].op ? "waiting" : "idle",
                               clients_[c].target.value, clients_[c].quota_after_faults);
      throw CheckFailure(
          fmt::format("liveness: not {} {} ticks after faults stopped;{}; latest {}; clients{}",
                      settled_at_ ? "quiesced" : "settled", opt_.liveness_ticks, roles,
                      describe(latest_), clients));
    }
    checker_.final_check();
  } catch (const std::exception& e) {
    res.ok = false;
    res.failure = e.what();
  }
  check_history(res);
  res.trace_hash = trace_.hash();
  res.events = trace_.events();
  res.chosen_slots = checker_.chosen_slots();
  res.acknowledged = checker_.acknowledged();
  res.ticks = now_ / kStepsPerTick;
  res.last_events = trace_.last();
  return res;
}

// The client history must be linearizable as a map of registers. Run on
// every seed, failed or not: a seed that failed another check may show here
// what a client saw. A key whose search ran out of budget proves nothing, so
// it fails the seed as well.
void World::check_history(Result& res) {
  auto fail = [&](std::string why) {
    res.failure = res.ok ? why : res.failure + "; and " + why;
    res.ok = false;
  };
  LinResult lin;
  try {
    lin = check_linearizable(history_.ops());
  } catch (const std::exception& e) {
    fail(fmt::format("history: {}", e.what()));
    return;
  }
  res.ops_checked = lin.ops_checked;
  res.ops_unknown = lin.unknown_ops;
  if (opt_.verbose)
    fmt::print("history: {} operations recorded, {} checked, {} unknown, {} search steps\n",
               history_.ops().size(), lin.ops_checked, lin.unknown_ops, lin.steps);
  if (!lin.ok)
    fail(fmt::format("client history (times are steps, t= in the trace): {}", lin.explanation));
  else if (lin.timed_out)
    fail("linearizability unknown: the search ran out of budget on key(s) " +
         lin.timed_out_keys.front() + (lin.timed_out_keys.size() > 1 ? " and others" : ""));
}

Result run(const Options& opt) { return World(opt).run(); }

}  // namespace synod::sim
