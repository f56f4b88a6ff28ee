#include "test_cluster.h"

#include <stdexcept>

namespace synod::test {

namespace {

// A failed save or sync would make every later assertion meaningless.
void require_ok(Status s, const char* what) {
  if (s != Status::ok) throw std::runtime_error(std::string("storage ") + what + " failed");
}

}  // namespace

TestCluster::TestCluster(std::size_t voters, Configure configure, StorageFor storage_for)
    : storage_for_(std::move(storage_for)) {
  std::vector<NodeId> ids;
  for (std::uint64_t id = 1; id <= voters; ++id) ids.push_back(NodeId{id});
  for (std::uint64_t id = 1; id <= voters; ++id) {
    Config c;
    c.id = NodeId{id};
    c.voters = ids;
    c.seed = id;
    if (configure) configure(c);
    add(c);
    start(id);
  }
}

TestCluster TestCluster::alone(std::uint64_t id, std::size_t voters, Configure configure) {
  TestCluster c(voters, std::move(configure));
  for (std::uint64_t other = 1; other <= voters; ++other)
    if (other != id) c.stop(other);
  return c;
}

void TestCluster::add(const Config& config) { nodes_[config.id.value].config = config; }

std::string TestNode::image() const {
  std::string s;
  for (const auto& c : commands) s += c + "\n";
  return s;
}

void TestNode::restore(const Snapshot& snapshot) {
  commands.clear();
  std::string cur;
  for (char ch : *snapshot.data) {
    if (ch == '\n') {
      commands.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  applied_slot = snapshot.meta.slot;
}

bool TestNode::has_command(const std::string& command) const {
  for (const auto& c : commands)
    if (c == command) return true;
  return false;
}

void TestCluster::start(std::uint64_t id) {
  TestNode& n = at(id);
  if (n.config.applied == Slot{}) {
    n.commands.clear();
    n.applied_slot = Slot{};
  }
  n.external_storage = storage_for_ ? storage_for_(id) : nullptr;
  n.replica = std::make_unique<Replica>(n.config, n.store());
}

void TestCluster::stop(std::uint64_t id) { at(id).replica.reset(); }

void TestCluster::wipe(std::uint64_t id) {
  TestNode& n = at(id);
  if (n.external_storage)
    throw std::logic_error("wipe() empties a MemoryStorage, not a test's own storage");
  n.replica.reset();
  n.storage.wipe();
  n.commands.clear();
  n.applied_slot = Slot{};
  n.committed.clear();
  n.outcomes.clear();
  n.reads.clear();
  n.membership.reset();
  n.restores.clear();
  n.snapshots_saved = 0;
}

TestNode& TestCluster::at(std::uint64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) throw std::out_of_range("no node " + std::to_string(id));
  return it->second;
}

const TestNode& TestCluster::at(std::uint64_t id) const {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) throw std::out_of_range("no node " + std::to_string(id));
  return it->second;
}

bool TestCluster::running(std::uint64_t id) const {
  auto it = nodes_.find(id);
  return it != nodes_.end() && it->second.replica != nullptr;
}

void TestCluster::drain(std::uint64_t id) {
  TestNode& n = at(id);
  while (n.replica && n.replica->has_ready()) {
    Ready rd = n.replica->ready();
    // 1. Persist: the snapshot first, then hard state and entries.
    if (rd.snapshot) {
      require_ok(n.store().save_snapshot(*rd.snapshot, rd.keep_from), "save_snapshot");
      ++n.snapshots_saved;
    }
    require_ok(n.store().save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries), "save");
    if (rd.must_sync) require_ok(n.store().sync(), "sync");
    // 2. Send.
    for (const Message& m : rd.messages) ++sent[m.type];
    wire.insert(wire.end(), rd.messages.begin(), rd.messages.end());
    // 3. Restore, apply, note the membership.
    if (rd.restore) {
      n.restores.push_back(*rd.restore);
      n.restore(*rd.restore);
    }
    for (const Entry& e : rd.committed) {
      if (e.slot != n.applied_slot.next())
        throw std::runtime_error("node " + std::to_string(id) + " got slot " +
                                 std::to_string(e.slot.value) + " to apply after slot " +
                                 std::to_string(n.applied_slot.value));
      n.committed.push_back(e);
      if (e.value.kind() == ValueKind::commands)
        n.commands.insert(n.commands.end(), e.value.commands().begin(), e.value.commands().end());
      n.applied_slot = e.slot;
    }
    if (rd.membership) n.membership = *rd.membership;
    // 4. Outcomes and reads.
    n.outcomes.insert(n.outcomes.end(), rd.outcomes.begin(), rd.outcomes.end());
    n.reads.insert(n.reads.end(), rd.reads.begin(), rd.reads.end());
    // 5. Advance.
    n.replica->advance(rd);
  }
}

std::vector<Message> TestCluster::take_wire() {
  std::vector<Message> out(wire.begin(), wire.end());
  wire.clear();
  return out;
}

void TestCluster::settle(std::size_t max_steps) {
  for (std::size_t step = 0; step <= max_steps; ++step) {
    for (auto& [id, n] : nodes_) drain(id);
    if (wire.empty()) return;
    Message m = wire.front();
    wire.pop_front();
    if (!running(m.to.value)) {
      ++undelivered;
      continue;
    }
    if (deliver(m)) node(m.to.value).step(m);
  }
  throw std::runtime_error("the cluster never went quiet");
}

void TestCluster::tick_all(int ticks) {
  for (int t = 0; t < ticks; ++t) {
    for (auto& [id, n] : nodes_)
      if (n.replica) n.replica->tick();
    settle();
  }
}

std::uint64_t TestCluster::leader() const {
  for (const auto& [id, n] : nodes_)
    if (n.replica && n.replica->info().role == Role::leader) return id;
  return 0;
}

bool TestCluster::commit_everywhere(const std::string& command) {
  std::uint64_t l = leader();
  if (l == 0 || !node(l).propose(command).ok()) return false;
  settle();
  tick_all(3);
  for (const auto& [id, n] : nodes_)
    if (n.replica && !n.has_command(command)) return false;
  return true;
}

void TestCluster::inject(const Message& m) {
  node(m.to.value).step(m);
  settle();
}

Status TestCluster::compact(std::uint64_t id) {
  TestNode& n = at(id);
  return n.replica->compact(n.applied_slot, n.image());
}

void TestCluster::heal() {
  deliver = [](const Message&) { return true; };
}

void TestCluster::isolate(std::uint64_t id) {
  deliver = [id](const Message& m) { return m.to.value != id && m.from.value != id; };
}

}  // namespace synod::test
