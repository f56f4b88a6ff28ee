#include "txn_world.h"

namespace synod::kv::txn::test {

World::World(std::size_t shards, std::uint64_t seed, Faults faults, ParticipantOptions participant,
             CoordinatorOptions coordinator)
    : faults_(faults), rng_(seed) {
  groups_.resize(shards);
  for (std::size_t s = 0; s < shards; ++s)
    coordinator.all_shards.push_back(static_cast<ShardId>(s));
  for (std::size_t s = 0; s < shards; ++s) {
    for (int r = 0; r < 2; ++r)
      groups_[s].replicas.push_back(
          std::make_unique<Replica>(static_cast<ShardId>(s), participant, coordinator));
    Replica& l = leader(static_cast<ShardId>(s));
    l.part.become_leader();
    carry(static_cast<ShardId>(s), l.coord.become_leader());
  }
}

void World::seed_key(ShardId shard, const std::string& key, const std::string& value) {
  for (auto& r : groups_[shard].replicas)
    r->store.execute(Request{Op::set, {key, value}, SetCondition::always});
}

void World::start(TxnPlan plan) {
  ShardId c = plan.id.coordinator;
  carry(c, leader(c).coord.start(std::move(plan)));
}

void World::carry(ShardId from, Effects fx) {
  for (Entry& e : fx.propose) groups_[from].pending.push_back(std::move(e));
  for (Envelope& e : fx.send) network_.push_back(std::move(e));
  for (ClientOutcome& o : fx.done) {
    if (!outcomes_.emplace(o.txn, o).second) ++twice_;
  }
}

// Every replica applies the entry; only a live leader's effects happen.
void World::choose(ShardId shard, std::size_t index, bool leader_alive) {
  Group& g = groups_[shard];
  Entry e = std::move(g.pending[index]);
  g.pending.erase(g.pending.begin() + static_cast<std::ptrdiff_t>(index));
  ++g.log_size;
  for (std::size_t r = 0; r < g.replicas.size(); ++r) {
    Effects fx = g.replicas[r]->part.apply(e);
    fx.append(g.replicas[r]->coord.apply(e));
    note(shard, r, e);
    if (leader_alive && r == g.leader) carry(shard, std::move(fx));
  }
}

void World::note(ShardId shard, std::size_t replica, const Entry& e) {
  const Replica& r = *groups_[shard].replicas[replica];
  auto keep = [&](auto& into, const TxnId& t, std::optional<bool> now) {
    if (!now) return;
    auto [it, first] = into.emplace(std::make_tuple(shard, replica, t), *now);
    if (!first && it->second != *now) ++changed_;
  };
  std::visit(
      [&](const auto& x) {
        using E = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<E, DecideEntry>)
          keep(decisions_, x.txn, r.coord.decision(x.txn));
        else if constexpr (std::is_same_v<E, PrepareEntry> || std::is_same_v<E, CommitEntry> ||
                           std::is_same_v<E, AbortEntry>)
          keep(outcomes_recorded_, x.txn, r.part.outcome(x.txn));
      },
      e);
}

std::optional<bool> World::decision(ShardId shard, const TxnId& t, std::size_t replica) const {
  if (std::optional<bool> now = groups_[shard].replicas[replica]->coord.decision(t)) return now;
  auto it = decisions_.find(std::make_tuple(shard, replica, t));
  return it == decisions_.end() ? std::nullopt : std::make_optional(it->second);
}

std::optional<bool> World::outcome(ShardId shard, const TxnId& t, std::size_t replica) const {
  if (std::optional<bool> now = groups_[shard].replicas[replica]->part.outcome(t)) return now;
  auto it = outcomes_recorded_.find(std::make_tuple(shard, replica, t));
  return it == outcomes_recorded_.end() ? std::nullopt : std::make_optional(it->second);
}

bool World::choose_one(ShardId shard) {
  if (groups_[shard].pending.empty()) return false;
  choose(shard, 0, true);
  return true;
}

void World::choose_all() {
  for (std::size_t s = 0; s < groups_.size(); ++s)
    while (choose_one(static_cast<ShardId>(s))) {
    }
}

void World::deliver(Envelope env) {
  Replica& l = leader(env.to);
  Effects fx;
  std::visit(
      [&](auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, PrepareMsg>) fx = l.part.on_prepare(m);
        if constexpr (std::is_same_v<M, VoteMsg>) fx = l.coord.on_vote(m);
        if constexpr (std::is_same_v<M, DecisionMsg>) fx = l.part.on_decision(m);
        if constexpr (std::is_same_v<M, AckMsg>) fx = l.coord.on_ack(m);
        if constexpr (std::is_same_v<M, InquiryMsg>) fx = l.coord.on_inquiry(m);
        if constexpr (std::is_same_v<M, FloorMsg>) fx = l.part.on_floor(m);
        if constexpr (std::is_same_v<M, FloorAckMsg>) fx = l.coord.on_floor_ack(m);
      },
      env.msg);
  carry(env.to, std::move(fx));
}

bool World::deliver_one() {
  if (network_.empty()) return false;
  Envelope env = std::move(network_.front());
  network_.erase(network_.begin());
  deliver(std::move(env));
  return true;
}

void World::deliver_all() {
  while (deliver_one()) {
  }
}

void World::tick_all() {
  for (std::size_t s = 0; s < groups_.size(); ++s) {
    Replica& l = leader(static_cast<ShardId>(s));
    Effects fx = l.part.tick();
    fx.append(l.coord.tick());
    carry(static_cast<ShardId>(s), std::move(fx));
  }
}

void World::crash_leader(ShardId shard, double chosen) {
  ++crashes_;
  Group& g = groups_[shard];
  std::bernoulli_distribution pick(chosen);
  for (std::size_t i = 0; i < g.pending.size();) {
    if (pick(rng_))
      choose(shard, i, false);  // chosen, but its leader is gone: no effects
    else
      g.pending.erase(g.pending.begin() + static_cast<std::ptrdiff_t>(i));
  }
  carry(shard, leader(shard).coord.lose_leadership());
  g.leader = (g.leader + 1) % g.replicas.size();
  leader(shard).part.become_leader();
  carry(shard, leader(shard).coord.become_leader());
}

void World::run(std::size_t steps) {
  std::uniform_real_distribution<double> u(0, 1);
  for (std::size_t i = 0; i < steps; ++i) {
    if (u(rng_) < faults_.crash) {
      crash_leader(static_cast<ShardId>(rng_() % groups_.size()), 0.5);
      continue;
    }
    double what = u(rng_);
    if (what < 0.4) {
      auto s = static_cast<ShardId>(rng_() % groups_.size());
      if (!groups_[s].pending.empty()) choose(s, rng_() % groups_[s].pending.size(), true);
    } else if (what < 0.85) {
      if (network_.empty()) continue;
      std::size_t k = rng_() % network_.size();  // any order
      Envelope env = network_[k];
      bool dup = u(rng_) < faults_.duplicate;
      if (!dup) network_.erase(network_.begin() + static_cast<std::ptrdiff_t>(k));
      if (u(rng_) >= faults_.drop) deliver(std::move(env));
    } else {
      tick_all();
    }
  }
}

bool World::settle(std::size_t rounds) {
  for (std::size_t i = 0; i < rounds; ++i) {
    choose_all();
    deliver_all();
    tick_all();
    bool quiet = network_.empty();
    for (std::size_t s = 0; s < groups_.size(); ++s) {
      const Group& g = groups_[s];
      quiet = quiet && g.pending.empty();
      for (const auto& r : g.replicas)
        quiet = quiet && r->part.prepared_count() == 0 && r->coord.undecided() == 0 &&
                r->coord.records() == 0 && r->part.finished_count() == 0;
    }
    if (quiet) return true;
  }
  return false;
}

KvStore& World::store(ShardId shard, std::size_t replica) {
  return groups_[shard].replicas[replica]->store;
}
Participant& World::participant(ShardId shard, std::size_t replica) {
  return groups_[shard].replicas[replica]->part;
}
Coordinator& World::coordinator(ShardId shard, std::size_t replica) {
  return groups_[shard].replicas[replica]->coord;
}

}  // namespace synod::kv::txn::test
