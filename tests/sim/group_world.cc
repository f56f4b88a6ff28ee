#include "group_world.h"

#include <algorithm>

namespace synod::sim {

namespace {
std::string b(Ballot x) { return fmt::format("{}.{}", x.round, x.node.value); }
// The key prefix of group g's registers: a command applied in another
// group is a message that reached the wrong group.
std::string key_prefix(std::uint64_t g) { return fmt::format("g{}k", g); }
}  // namespace

GroupWorld::GroupWorld(const Options& opt)
    : opt_(opt),
      scenario_(draw_group_scenario(opt.seed, opt.fault_ticks)),
      net_(opt.seed * 37 + 5),
      trace_(opt.trace_keep),
      rng_(opt.seed * 0x9e3779b97f4a7c15ULL + 9) {
  net_.set_faults(scenario_.faults);
  testing::plant_bug(opt_.bug);
  Membership initial;
  for (std::size_t i = 1; i <= scenario_.nodes; ++i) initial.voters.push_back(NodeId{i});
  for (std::size_t g = 0; g < scenario_.groups; ++g)
    checkers_.emplace_back(scenario_.nodes, initial, 16);
  nodes_.resize(scenario_.nodes);
  for (std::size_t i = 0; i < scenario_.nodes; ++i) {
    nodes_[i].id = NodeId{i + 1};
    nodes_[i].tick_steps = scenario_.tick_steps[i];
    nodes_[i].storage = std::make_unique<GroupStorage>(scenario_.log_storage, scenario_.groups);
    for (std::uint64_t g = 1; g <= scenario_.groups; ++g) nodes_[i].hosts[g];
  }
  clients_.resize(scenario_.clients);
  quiesced_calm_.assign(scenario_.groups, false);
  calm_leader_.assign(scenario_.groups, NodeId{});
  writes_due_.assign(scenario_.groups, 2);
  if (opt_.txn) txn_setup();
}

Config GroupWorld::config_for(const Node& n, std::uint64_t group) const {
  Config c;
  c.id = n.id;
  c.group = GroupId{group};
  for (const Node& x : nodes_) c.voters.push_back(x.id);
  c.election_ticks = kElectionTicks;
  c.heartbeat_ticks = kHeartbeatTicks;
  c.max_inflight = 16;
  c.alpha = 16;
  c.batch_count_max = 4;
  c.message_bytes_max = 1u << 12;
  c.batch_bytes_max = 1u << 10;
  c.pending_bytes_max = 1u << 16;
  // Every start of every replica its own seed.
  c.seed = opt_.seed * 1'000'000 + n.id.value * 10'000 + group * 100 + n.incarnation;
  return c;
}

void GroupWorld::trace_message(std::string_view what, NodeId from, const Message& m) {
  if (m.type == MessageType::node_heartbeat) {
    trace("t={} {} {}->{} node_heartbeat inc={} beats={}", now_, what, from.value, m.to.value,
          m.slot.value, m.beats.size());
    return;
  }
  trace("t={} {} {}->{} g{} {} b={} s={}..{} c={} n={}{}", now_, what, from.value, m.to.value,
        m.group.value, to_string(m.type), b(m.ballot), m.slot.value, m.slot_end.value,
        m.commit.value, m.entries.size(), m.quiesce ? " quiesce" : "");
}

void GroupWorld::start(Node& n) {
  ++n.incarnation;
  GroupSetOptions o;
  o.self = n.id;
  o.heartbeat_ticks = kHeartbeatTicks;
  o.election_ticks = kElectionTicks;
  o.incarnation = n.incarnation;
  n.set = std::make_unique<GroupSet>(o);
  for (auto& [g, h] : n.hosts) {
    h.kv = KvMachine{};
    std::string why;
    if (n.set->add(config_for(n, g), n.storage->storage(g), &why) != Status::ok)
      throw CheckFailure(fmt::format("node {}: group {} refused: {}", n.id.value, g, why));
    checker(g).on_start(n.id, false);
  }
  std::vector<NodeId> all;
  for (const Node& x : nodes_) all.push_back(x.id);
  n.set->set_peers(all);
  net_.set_down(n.id, false);
  if (txn_) {
    txn_->node_started(n.id);
    txn_->net().set_down(n.id, false);
  }
  trace("t={} start {} incarnation {}", now_, n.id.value, n.incarnation);
  pump(n);
}

// All of the node's groups go down at once. mid_ready: each group with a
// Ready pending saves it and crashes before the sync, keeping a torn prefix.
void GroupWorld::crash(Node& n, bool mid_ready, std::size_t keep) {
  if (!n.set) return;
  for (auto& [g, h] : n.hosts) {
    Replica* r = n.set->find(GroupId{g});
    if (mid_ready && r->has_ready()) {
      Ready rd = r->ready();
      n.storage->save(g, rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
    }
  }
  n.storage->crash(keep);
  n.set.reset();
  net_.set_down(n.id, true);
  forget_client_ops(n);
  if (txn_) {
    txn_->node_crashed(n.id);
    txn_->net().set_down(n.id, true);
    txn_forget_clients(n.id);
  }
  trace("t={} crash {} keep={}{}", now_, n.id.value, keep, mid_ready ? " mid-ready" : "");
}

// The host loop of one node: the dirty groups' Readys (with --txn, then
// what the commit protocol asked to propose, and the Readys that makes,
// until it asks for nothing), then one flush of node heartbeats.
void GroupWorld::pump(Node& n) {
  if (!n.set) return;
  std::vector<Message> out;
  do {
    std::vector<GroupId> dirty;
    n.set->take_dirty(dirty);
    process_readys(n, dirty, out);
  } while (txn_ && txn_flush(n));
  n.set->flush(out);
  send_all(n, out);
}

void GroupWorld::process_readys(Node& n, const std::vector<GroupId>& groups,
                                std::vector<Message>& out) {
  std::vector<GroupId> work = groups;
  while (!work.empty()) {
    std::vector<std::pair<std::uint64_t, Ready>> staged;
    for (GroupId g : work) {
      Replica* r = n.set->find(g);
      while (r->has_ready()) {
        Ready rd = r->ready();
        n.storage->save(g.value, rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
        staged.emplace_back(g.value, std::move(rd));
      }
    }
    if (staged.empty()) return;
    if (n.storage->sync() != Status::ok)
      throw CheckFailure(fmt::format("node {}: storage sync failed", n.id.value));
    for (auto& [g, rd] : staged) finish(n, g, rd, out);
    // Advancing may make more work (a leader's own vote commits a slot).
    work.clear();
    for (auto& [g, rd] : staged)
      if (n.set->find(GroupId{g})->has_ready() && (work.empty() || work.back() != GroupId{g}))
        work.push_back(GroupId{g});
  }
}

void GroupWorld::finish(Node& n, std::uint64_t g, Ready& rd, std::vector<Message>& out) {
  Replica* r = n.set->find(GroupId{g});
  for (Message& m : rd.messages) {
    checker(g).on_send(n.id, m, n.storage->mirror(g));
    if (m.type == MessageType::prepare && faults_over_ && quiesced_calm_[g - 1])
      throw CheckFailure(fmt::format(
          "group {}: node {} campaigns (prepare in {}) after the group quiesced under node {}, "
          "with every node it needs up and connected",
          g, n.id.value, b(m.ballot), calm_leader_[g - 1].value));
    n.set->send(std::move(m), out);
  }
  apply(n, g, rd);
  for (const ProposalOutcome& o : rd.outcomes) handle_outcome(n, g, o);
  for (const ReadState& rs : rd.reads) handle_read_state(n, g, rs);
  serve_reads(n, g);
  note_own_votes(n, g, rd);
  r->advance(rd);
  checker(g).on_promise_seen(n.id, r->info().promised);
}

void GroupWorld::note_own_votes(Node& n, std::uint64_t g, const Ready& rd) {
  Replica* r = n.set->find(GroupId{g});
  bool own = false;
  for (const Entry& e : rd.entries) own |= e.ballot.node == n.id;
  if (!own || r->role() != Role::leader) return;
  Ballot mine = r->info().ballot;
  for (const Entry& e : rd.entries)
    if (e.ballot == mine) checker(g).on_own_vote(n.id, e);
}

void GroupWorld::apply(Node& n, std::uint64_t g, const Ready& rd) {
  Host& h = n.hosts.at(g);
  for (const Entry& e : rd.committed) {
    checker(g).on_apply(n.id, e);
    if (txn_) {
      checker(g).on_state(n.id, e.slot, txn_->apply(n.id, g, *n.set, e));
      continue;
    }
    if (e.value.kind() == ValueKind::commands)
      for (std::string_view cmd : e.value.commands())
        if (cmd.rfind(key_prefix(g), 0) != 0)
          throw CheckFailure(
              fmt::format("group {}: node {} applied {:?} at slot {}, a command of another group",
                          g, n.id.value, cmd, e.slot.value));
    if (!h.kv.apply(e))
      throw CheckFailure(
          fmt::format("group {}: node {}: slot {} holds a command that is not a write", g,
                      n.id.value, e.slot.value));
    checker(g).on_state(n.id, e.slot, h.kv.digest());
  }
}

void GroupWorld::send_all(Node& n, std::vector<Message>& out) {
  for (Message& m : out) {
    trace_message("send", n.id, m);
    net_.send(now_, n.id, m.to, std::move(m));
  }
}

void GroupWorld::apply_event(const Event& e) {
  Node& n = node(e.node);
  switch (e.kind) {
    case EventKind::crash:
      crash(n, e.mid_ready, e.keep_unsynced);
      break;
    case EventKind::restart:
      if (!n.set) start(n);
      break;
    case EventKind::block:
      net_.block(e.node, e.peer);
      if (txn_) txn_->net().block(e.node, e.peer);
      break;
    case EventKind::unblock:
      net_.unblock(e.node, e.peer);
      if (txn_) txn_->net().unblock(e.node, e.peer);
      break;
    default:
      break;
  }
}

// Faults stop: the network heals, crashed nodes restart, and in some seeds
// the node leading the most sleeping groups (then the most groups) dies for
// good. Clients wait until every group has a leader again: no proposal may
// wake a group that its node liveness should have woken.
void GroupWorld::enter_liveness_phase() {
  faults_over_ = true;
  net_.set_faults(NetworkFaults{0, 0, 1, 5});
  net_.heal();
  if (txn_) {
    txn_->net().set_faults(NetworkFaults{0, 0, 1, 5});
    txn_->net().heal();
  }
  for (Node& n : nodes_)
    if (!n.set) start(n);
  if (scenario_.dead_node) {
    std::uint64_t best = 0;
    for (Node& n : nodes_) {
      std::uint64_t score = 0;
      for (std::uint64_t g = 1; g <= scenario_.groups; ++g) {
        Replica* r = n.set->find(GroupId{g});
        if (r->role() == Role::leader) score += r->quiesced() ? 1000 : 1;
      }
      if (!dead_.valid() || score > best) dead_ = n.id, best = score;
    }
    crash(node(dead_), false, 0);
    trace("t={} node {} dies for good", now_, dead_.value);
  }
  leaders_due_ = now_ / kStepsPerTick + 150;
  trace("t={} faults over", now_);
}

// A group has a leader when a running replica leads it and a majority of
// its replicas take it as their leader.
void GroupWorld::check_leaders() {
  std::vector<std::uint64_t> leaderless;
  for (std::uint64_t g = 1; g <= scenario_.groups; ++g) {
    bool ok = false;
    for (Node& l : nodes_) {
      if (!l.set || l.set->find(GroupId{g})->role() != Role::leader) continue;
      std::size_t following = 0;
      for (Node& n : nodes_) following += n.set && n.set->find(GroupId{g})->leader() == l.id;
      ok |= following * 2 > nodes_.size();
    }
    if (!ok) leaderless.push_back(g);
  }
  if (leaderless.empty()) {
    leaders_checked_ = true;
    trace("t={} every group has a leader", now_);
    return;
  }
  if (now_ / kStepsPerTick < leaders_due_) return;
  std::string what;
  for (std::uint64_t g : leaderless) what += "; " + describe_group(g);
  throw CheckFailure(
      fmt::format("liveness: {} group(s) without a leader 150 ticks after faults "
                  "stopped (no client traffic to wake them){}",
                  leaderless.size(), what));
}

std::string GroupWorld::describe_group(std::uint64_t g) {
  std::string s = fmt::format("group {}:", g);
  for (Node& n : nodes_) {
    if (!n.set) {
      s += fmt::format(" n{} down", n.id.value);
      continue;
    }
    Replica* r = n.set->find(GroupId{g});
    s += fmt::format(" n{} {}{} leader={} commit={}", n.id.value, to_string(r->role()),
                     r->quiesced() ? " asleep" : "", r->leader().value, r->info().commit.value);
  }
  return s;
}

// With faults over and every node up and connected (bar the dead one), a
// group whose running replicas all sleep under one running leader has no
// reason to elect again: watched from then on (process_ready).
void GroupWorld::watch_quiescence() {
  for (std::uint64_t g = 1; g <= scenario_.groups; ++g) {
    if (quiesced_calm_[g - 1]) continue;
    NodeId leader{};
    bool all = true;
    for (Node& n : nodes_) {
      if (!n.set) continue;
      Replica* r = n.set->find(GroupId{g});
      if (!r->quiesced()) all = false;
      if (r->role() == Role::leader) leader = n.id;
    }
    if (!all || !leader.valid() || leader == dead_) continue;
    quiesced_calm_[g - 1] = true;
    calm_leader_[g - 1] = leader;
    trace("t={} group {} quiesced under node {}", now_, g, leader.value);
  }
}

// After the idle stretch every replica of every group sleeps, unless a
// member is dead for good (a leader sleeps only once every member has
// acknowledged its commit index).
void GroupWorld::check_asleep() {
  if (dead_.valid()) return;
  for (std::uint64_t g = 1; g <= scenario_.groups; ++g)
    for (Node& n : nodes_)
      if (!n.set->find(GroupId{g})->quiesced())
        throw CheckFailure(
            fmt::format("group {}: quiescence: still awake {} idle ticks after "
                        "settling, every node up: {}",
                        g, kCodaTicks, describe_group(g)));
}

bool GroupWorld::settled() {
  if (!leaders_checked_) return false;
  for (const Client& c : clients_)
    if (c.op) return false;
  for (std::uint64_t due : writes_due_)
    if (due > 0) return false;
  if (txn_ && !txn_settled()) return false;
  for (std::uint64_t g = 1; g <= scenario_.groups; ++g) {
    Slot top{};
    for (Node& n : nodes_)
      if (n.set) top = std::max(top, n.set->find(GroupId{g})->info().commit);
    for (Node& n : nodes_)
      if (n.set && n.set->find(GroupId{g})->info().applied != top) return false;
  }
  return true;
}

Result GroupWorld::run() {
  Result res;
  res.scenario = scenario_.describe();
  std::size_t next_event = 0;
  std::uint64_t deadline = (scenario_.fault_ticks + opt_.liveness_ticks) * kStepsPerTick;
  std::uint64_t coda_end = 0;  // set once settled: the idle stretch after
  try {
    for (Node& n : nodes_) start(n);
    for (now_ = 0; now_ < deadline; ++now_) {
      net_.deliver_due(now_, [&](auto& d) {
        Node& n = node(d.to);
        if (!n.set) return;
        trace_message("recv", d.from, d.payload);
        n.set->step(d.from, d.payload);
        pump(n);
      });
      if (txn_)
        txn_->net().deliver_due(now_, [&](auto& d) {
          Node& n = node(d.to);
          if (!n.set) return;
          trace("t={} txn recv {}->{} {}", now_, d.from.value, d.to.value,
                TxnHost::describe(d.payload));
          txn_->deliver(n.id, *n.set, d.payload);
          pump(n);
        });
      for (Node& n : nodes_) {
        if (!n.set || (now_ + n.id.value * 3) % n.tick_steps != 0) continue;
        n.set->tick();
        if (txn_) txn_->tick(n.id, *n.set);
        pump(n);
      }
      if (now_ % kStepsPerTick != 0) continue;
      std::uint64_t tick = now_ / kStepsPerTick;
      while (next_event < scenario_.events.size() && scenario_.events[next_event].tick <= tick)
        apply_event(scenario_.events[next_event++]);
      if (tick == scenario_.fault_ticks) enter_liveness_phase();
      if (faults_over_) {
        watch_quiescence();
        if (!leaders_checked_) check_leaders();
      }
      clients_act();
      if (coda_end == 0 && settled()) {
        coda_end = now_ + kCodaTicks * kStepsPerTick;
        deadline = std::max(deadline, coda_end + 1);
        trace("t={} settled; idle for {} ticks", now_, kCodaTicks);
      }
      if (coda_end != 0 && now_ >= coda_end) break;
    }
    if (now_ >= deadline) {
      std::string what;
      for (std::uint64_t g = 1; g <= scenario_.groups; ++g)
        what += fmt::format("; {} writes due {}", describe_group(g), writes_due_[g - 1]);
      if (txn_)
        what += fmt::format("; txn: {} commits due, {}", txn_commits_due_, txn_->describe_busy());
      throw CheckFailure(fmt::format("liveness: not settled {} ticks after faults stopped{}",
                                     opt_.liveness_ticks, what));
    }
    check_asleep();
    for (std::uint64_t g = 1; g <= scenario_.groups; ++g) checker(g).final_check();
    if (txn_) txn_final_check(res);
  } catch (const CheckFailure& e) {
    res.ok = false;
    res.failure = e.what();
    // The Checker's own messages do not know the group: name it.
    if (res.failure.rfind("group", 0) != 0 && res.failure.rfind("liveness", 0) != 0 &&
        res.failure.rfind("txn", 0) != 0)
      res.failure = fmt::format("group {}: {}", checking_, res.failure);
  } catch (const std::exception& e) {
    res.ok = false;
    res.failure = e.what();
  }
  check_history(res);
  res.trace_hash = trace_.hash();
  res.events = trace_.events();
  for (const Checker& c : checkers_) {
    res.chosen_slots += c.chosen_slots();
    res.acknowledged += c.acknowledged();
  }
  res.ticks = now_ / kStepsPerTick;
  res.last_events = trace_.last();
  return res;
}

void GroupWorld::check_history(Result& res) {
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
  if (!lin.ok)
    fail(fmt::format("client history of key {} (group {}): {}", lin.key,
                     lin.key.substr(1, lin.key.find('k') - 1), lin.explanation));
  else if (lin.timed_out)
    fail("linearizability unknown: the search ran out of budget on key(s) " +
         lin.timed_out_keys.front());
}

Result run_groups(const Options& opt) { return GroupWorld(opt).run(); }

}  // namespace synod::sim
