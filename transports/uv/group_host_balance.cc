// GroupHost's leader balancing: every balance_ms, a node leading more than
// its share, ceil(groups / live nodes), hands the surplus to voters on live
// nodes that lead fewer than the share, fewest first. Each node decides
// from its own view (its replicas' leader hints), so two nodes may pick the
// same receiver in one round; the receiver then holds a surplus and hands
// it on in its next round. Replica::transfer_leadership waits for the
// target to hold every slot in flight, so only a caught-up follower
// campaigns, and the group stays led meanwhile.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "group_host_group.h"
#include "synod/group_host.h"

namespace synod {

// This node, and every peer node heard within an election timeout.
std::vector<NodeId> GroupHost::live_nodes() const {
  std::vector<NodeId> live{opt_.self};
  std::uint64_t now = uv_hrtime();
  std::uint64_t window = std::uint64_t{opt_.election_ticks} * opt_.tick_ms * 1'000'000;
  for (const auto& [node, heard] : heard_ns_)
    if (now - heard <= window && member_of_.count(node)) live.push_back(NodeId{node});
  return live;
}

void GroupHost::balance() {
  if (!set_ || failed_ || groups_.empty()) return;
  ++balance_rounds_;
  std::vector<NodeId> live = live_nodes();
  std::map<std::uint64_t, std::size_t> leads;  // live node -> groups it leads, as seen here
  for (NodeId n : live) leads[n.value] = 0;
  struct Led {
    GroupId id;
    std::vector<NodeId> voters;
  };
  std::vector<Led> mine;
  for (const auto& [id, g] : groups_) {
    if (g->failed) continue;
    ReplicaInfo i = set_->find(GroupId{id})->info();
    if (i.role == Role::leader)
      mine.push_back(Led{GroupId{id}, std::move(i.membership.voters)});
    else if (i.leader.valid() && leads.count(i.leader.value))
      ++leads[i.leader.value];
  }
  leads[opt_.self.value] = mine.size();
  std::size_t share = (groups_.size() + live.size() - 1) / live.size();
  if (mine.size() <= share) return;
  std::size_t surplus = std::min(mine.size() - share, opt_.balance_transfers_max);
  for (const Led& led : mine) {
    if (surplus == 0) break;
    NodeId best{};
    for (NodeId v : led.voters) {
      auto it = leads.find(v.value);
      if (v == opt_.self || it == leads.end() || it->second >= share) continue;
      if (!best.valid() || it->second < leads[best.value]) best = v;
    }
    if (!best.valid()) continue;
    if (transfer_leadership(led.id, best) != Status::ok) continue;
    ++leads[best.value];
    ++leaders_handed_off_;
    --surplus;
  }
}

}  // namespace synod
