#include "group_cluster.h"

#include <doctest/doctest.h>

#include <string>

namespace synod::test {

GroupCluster::GroupCluster(std::size_t nodes, std::size_t groups,
                           std::function<void(Config&)> configure)
    : groups_(groups), configure_(std::move(configure)) {
  nodes_.resize(nodes);
  for (std::size_t i = 0; i < nodes; ++i) nodes_[i].id = NodeId{i + 1};
  for (GroupNode& n : nodes_) start(n);
}

void GroupCluster::start(GroupNode& n) {
  GroupSetOptions o;
  o.self = n.id;
  o.heartbeat_ticks = 1;
  o.election_ticks = 10;
  o.incarnation = n.incarnation;
  n.set = std::make_unique<GroupSet>(o);
  std::vector<NodeId> all;
  for (const GroupNode& x : nodes_) all.push_back(x.id);
  for (std::size_t g = 1; g <= groups_; ++g) {
    Config c;
    c.id = n.id;
    c.group = GroupId{g};
    c.voters = all;
    c.seed = n.id.value * 1000 + g * 10 + n.incarnation;
    if (configure_) configure_(c);
    std::string why;
    REQUIRE_MESSAGE(n.set->add(c, n.storage[g], &why) == Status::ok, why);
  }
  n.set->set_peers(all);
}

void GroupCluster::pump(GroupNode& n) {
  if (down(n.id.value)) return;
  std::vector<Message> out;
  std::vector<GroupId> dirty;
  n.set->take_dirty(dirty);
  for (GroupId g : dirty) {
    pumped[n.id.value].push_back(g);
    Replica* r = n.set->find(g);
    MemoryStorage& s = n.storage[g.value];
    while (r->has_ready()) {
      Ready rd = r->ready();
      if (rd.snapshot) REQUIRE(s.save_snapshot(*rd.snapshot, rd.keep_from) == Status::ok);
      REQUIRE(s.save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries) == Status::ok);
      if (rd.must_sync) REQUIRE(s.sync() == Status::ok);
      for (Message& m : rd.messages) n.set->send(std::move(m), out);
      for (const ReadState& rs : rd.reads) reads[n.id.value].push_back(rs);
      r->advance(rd);
    }
  }
  n.set->flush(out);
  for (Message& m : out) {
    sent.push_back(Sent{n.id, m.to, m});
    if (!cut_.count({n.id.value, m.to.value})) queue_.push_back(Sent{n.id, m.to, std::move(m)});
  }
}

void GroupCluster::pump_all() {
  for (GroupNode& n : nodes_) pump(n);
}

void GroupCluster::settle() {
  pump_all();
  for (std::size_t guard = 0; !queue_.empty(); ++guard) {
    REQUIRE(guard < 1'000'000);
    Sent s = std::move(queue_.front());
    queue_.pop_front();
    if (down(s.to.value) || cut_.count({s.from.value, s.to.value})) continue;
    GroupNode& n = node(s.to.value);
    n.set->step(s.from, s.msg);
    pump(n);
  }
}

void GroupCluster::tick_all() {
  for (GroupNode& n : nodes_)
    if (!down(n.id.value)) n.set->tick();
}

void GroupCluster::run(std::size_t ticks) {
  for (std::size_t i = 0; i < ticks; ++i) {
    tick_all();
    settle();
  }
}

void GroupCluster::crash(std::uint64_t id) {
  down_.insert(id);
  GroupNode& n = node(id);
  n.set.reset();
  for (auto& [g, s] : n.storage) s.crash();
}

void GroupCluster::restart(std::uint64_t id) {
  GroupNode& n = node(id);
  ++n.incarnation;
  down_.erase(id);
  start(n);
}

std::uint64_t GroupCluster::leader_of(std::uint64_t g) {
  for (GroupNode& n : nodes_) {
    if (down(n.id.value)) continue;
    Replica* r = n.set->find(GroupId{g});
    if (r && r->role() == Role::leader) return n.id.value;
  }
  return 0;
}

}  // namespace synod::test
