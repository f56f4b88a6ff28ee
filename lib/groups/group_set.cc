// synod::GroupSet: the groups, their ticks, sleep and wake, and the dirty
// list (docs/groups.md). Node heartbeats and routing: node_beats.cc.
#include <fmt/format.h>

#include <algorithm>

#include "group_set_state.h"

namespace synod {

Status GroupSetOptions::validate(std::string* why) const {
  auto refuse = [&](std::string s) {
    if (why) *why = std::move(s);
    return Status::invalid_config;
  };
  if (!self.valid()) return refuse("GroupSetOptions::self must name a node (not 0)");
  if (heartbeat_ticks == 0) return refuse("GroupSetOptions::heartbeat_ticks must be at least 1");
  if (election_ticks <= heartbeat_ticks)
    return refuse(
        fmt::format("GroupSetOptions::election_ticks ({}) must exceed heartbeat_ticks ({})",
                    election_ticks, heartbeat_ticks));
  return Status::ok;
}

void GroupSet::State::mark_dirty(Group& g) {
  if (g.dirty) return;
  g.dirty = true;
  dirty.push_back(g.id);
}

void GroupSet::State::list_awake(Group& g) {
  if (g.listed_awake) return;
  g.listed_awake = true;
  awake.push_back(g.id);
}

void GroupSet::State::file_asleep(Group& g) {
  unfile(g);
  NodeId under = g.replica.leader();
  g.filed_asleep = true;
  g.asleep_under = under;
  sleepers[under].insert(g.id);
}

void GroupSet::State::unfile(Group& g) {
  if (!g.filed_asleep) return;
  auto it = sleepers.find(g.asleep_under);
  if (it != sleepers.end()) {
    it->second.erase(g.id);
    if (it->second.empty()) sleepers.erase(it);
  }
  g.filed_asleep = false;
}

void GroupSet::State::wake(Group& g, std::uint64_t silent_ticks) {
  unfile(g);
  g.replica.wake(silent_ticks);
  list_awake(g);
  mark_dirty(g);
}

std::size_t GroupSet::State::wake_under(NodeId n, std::uint64_t silent_ticks) {
  auto it = sleepers.find(n);
  if (it == sleepers.end()) return 0;
  std::set<GroupId> ids = std::move(it->second);
  sleepers.erase(it);
  for (GroupId id : ids) {
    Group* g = group(id);
    if (!g) continue;
    g->filed_asleep = false;
    wake(*g, silent_ticks);
  }
  return ids.size();
}

GroupSet::GroupSet(GroupSetOptions options) : state_(std::make_unique<State>(options)) {}
GroupSet::~GroupSet() = default;

Status GroupSet::add(Config config, const Storage& storage, std::string* why) {
  State& s = *state_;
  auto refuse = [&](Status st, std::string text) {
    if (why) *why = std::move(text);
    return st;
  };
  if (config.id != s.options.self)
    return refuse(Status::invalid_config, fmt::format("Config::id ({}) is not this node ({})",
                                                      config.id.value, s.options.self.value));
  if (config.group.value == 0)
    return refuse(Status::invalid_config,
                  "Config::group must not be 0 (node heartbeats use group 0)");
  if (config.heartbeat_ticks != s.options.heartbeat_ticks ||
      config.election_ticks != s.options.election_ticks)
    return refuse(Status::invalid_config,
                  fmt::format("group {}: heartbeat_ticks/election_ticks {}/{} differ from the "
                              "GroupSet's {}/{}",
                              config.group.value, config.heartbeat_ticks, config.election_ticks,
                              s.options.heartbeat_ticks, s.options.election_ticks));
  config.quiesce = true;
  std::string reason;
  if (config.validate(&reason) != Status::ok)
    return refuse(Status::invalid_config, fmt::format("group {}: {}", config.group.value, reason));
  if (s.group(config.group))
    return refuse(Status::invalid_argument,
                  fmt::format("group {} is here already", config.group.value));
  auto g = std::make_unique<State::Group>(config.group, config, storage);
  State::Group& ref = *g;
  s.groups.emplace(config.group.value, std::move(g));
  s.list_awake(ref);
  s.mark_dirty(ref);  // a fresh replica may have a Ready (a rejoin, say)
  return Status::ok;
}

Status GroupSet::remove(GroupId group) {
  State& s = *state_;
  State::Group* g = s.group(group);
  if (!g) return Status::invalid_argument;
  s.unfile(*g);
  s.groups.erase(group.value);  // stale ids in awake/dirty are skipped on use
  return Status::ok;
}

Replica* GroupSet::find(GroupId group) {
  State::Group* g = state_->group(group);
  return g ? &g->replica : nullptr;
}

void GroupSet::touch(GroupId group) {
  State& s = *state_;
  State::Group* g = s.group(group);
  if (!g) return;
  s.mark_dirty(*g);
  if (g->replica.quiesced()) return;  // the call did not rouse it
  if (g->filed_asleep) {
    s.unfile(*g);
    ++s.stats.wakes_needed;
  }
  s.list_awake(*g);
}

std::size_t GroupSet::size() const { return state_->groups.size(); }

std::vector<GroupId> GroupSet::groups() const {
  std::vector<GroupId> out;
  out.reserve(state_->groups.size());
  for (const auto& [id, g] : state_->groups) out.push_back(GroupId{id});
  std::sort(out.begin(), out.end());
  return out;
}

void GroupSet::set_peers(std::vector<NodeId> nodes) {
  State& s = *state_;
  s.peer_nodes.clear();
  for (NodeId n : nodes)
    if (n.valid() && n != s.options.self) {
      s.peer_nodes.insert(n);
      s.peer(n);  // watched from now on
    }
}

void GroupSet::tick(std::uint64_t periods) {
  State& s = *state_;
  periods = std::max<std::uint64_t>(1, periods);
  ++s.now;
  // The awake groups: those that fell asleep since are filed under their
  // leader's node; the rest tick. Sleeping groups are never looked at here.
  // The list may name a group twice (removed and added again since the
  // last tick, its old listing still here): listed_awake is set again only
  // after the walk, so each group ticks once.
  std::vector<GroupId> listed;
  listed.swap(s.awake);
  std::vector<State::Group*> ticked;
  for (GroupId id : listed) {
    State::Group* g = s.group(id);
    if (!g || !g->listed_awake) continue;
    g->listed_awake = false;
    if (g->replica.quiesced()) {
      s.file_asleep(*g);
      continue;
    }
    std::uint64_t ticks = 1;
    if (periods > 1 && g->replica.role() == Role::leader)
      ticks = std::min<std::uint64_t>(
          periods, g->lease_reads ? s.options.election_ticks : s.options.heartbeat_ticks);
    s.stats.ticks_skipped += periods - ticks;
    for (std::uint64_t i = 0; i < ticks; ++i) g->replica.tick();
    ticked.push_back(g);
    s.mark_dirty(*g);
  }
  for (State::Group* g : ticked) s.list_awake(*g);
  if (s.bug == PlantedBug::sleep_through_dead_leader) return;
  // One look per leader node: its sleepers wake once it has been silent for
  // an election timeout (they draw their elections over the next one).
  std::vector<std::pair<NodeId, std::uint64_t>> silent;
  for (const auto& [node, ids] : s.sleepers) {
    if (node == s.options.self) continue;  // sleeping leaders: nothing to watch
    std::uint64_t quiet = s.silence(node);
    if (quiet >= s.options.election_ticks) silent.emplace_back(node, quiet);
  }
  for (auto [node, quiet] : silent) s.stats.wakes_leader_silent += s.wake_under(node, quiet);
}

void GroupSet::take_dirty(std::vector<GroupId>& out) {
  State& s = *state_;
  for (GroupId id : s.dirty) {
    State::Group* g = s.group(id);
    if (!g || !g->dirty) continue;
    g->dirty = false;
    out.push_back(id);
  }
  s.dirty.clear();
}

GroupSetStats GroupSet::stats() const {
  GroupSetStats st = state_->stats;
  st.groups = state_->groups.size();
  st.sleeping = 0;
  for (const auto& [id, g] : state_->groups) st.sleeping += g->replica.quiesced();
  return st;
}

}  // namespace synod
