// Where each member of a synod-kv cluster is reached: the addresses logged by
// CLUSTER ADDNODE / ADDLEARNER (KvStore::member_addresses, the same on every
// replica), else the ones on this process's command line (--peers,
// --clients, --listen). The log wins: it is newer than any command line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kv_store.h"
#include "server_options.h"
#include "synod/membership.h"
#include "synod/transport.h"

namespace synod::kv {

class AddressBook {
 public:
  // Both must outlive the book.
  AddressBook(const ServerOptions& options, const KvStore& store) : opt_(options), store_(store) {}

  // Either field may be empty when nobody told this process; nullopt when
  // neither is known.
  std::optional<MemberAddress> find(NodeId id) const;
  // The transport's peer set for `membership`: every member but this one
  // whose peer address is known. Members without one go to *unknown.
  std::vector<Peer> peers_of(const Membership& membership,
                             std::vector<NodeId>* unknown = nullptr) const;
  // The reply that sends a client to the leader: -MOVED with its client
  // address, or -NOTLEADER when the address (or the leader) is unknown.
  std::string moved(NodeId leader) const;

 private:
  const ServerOptions& opt_;
  const KvStore& store_;
};

}  // namespace synod::kv
