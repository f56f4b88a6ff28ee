#include "address_book.h"

#include <fmt/format.h>

namespace synod::kv {

std::optional<MemberAddress> AddressBook::find(NodeId id) const {
  const MemberAddresses& logged = store_.member_addresses();
  if (auto it = logged.find(id.value); it != logged.end()) return it->second;
  MemberAddress a;
  for (const Peer& p : opt_.peers)
    if (p.id == id) a.peer = p.address;
  if (auto it = opt_.client_addrs.find(id.value); it != opt_.client_addrs.end())
    a.client = it->second;
  else if (id == opt_.id)
    a.client = opt_.listen;
  if (a.peer.empty() && a.client.empty()) return std::nullopt;
  return a;
}

std::vector<Peer> AddressBook::peers_of(const Membership& membership,
                                        std::vector<NodeId>* unknown) const {
  std::vector<Peer> peers;
  for (const auto* ids : {&membership.voters, &membership.learners}) {
    for (NodeId id : *ids) {
      if (id == opt_.id) continue;
      std::optional<MemberAddress> a = find(id);
      if (a && !a->peer.empty())
        peers.push_back(Peer{id, a->peer});
      else if (unknown)
        unknown->push_back(id);
    }
  }
  return peers;
}

std::string AddressBook::moved(NodeId leader) const {
  if (!leader.valid()) return "-NOTLEADER no leader yet; retry shortly\r\n";
  std::optional<MemberAddress> a = find(leader);
  if (a && !a->client.empty()) return fmt::format("-MOVED 0 {}\r\n", a->client);
  return fmt::format("-NOTLEADER node {} leads; send writes there\r\n", leader.value);
}

}  // namespace synod::kv
