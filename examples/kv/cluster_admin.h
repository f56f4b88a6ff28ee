// Membership on a running synod-kv node: runs CLUSTER commands against the
// replica (through the libuv host), and keeps the TCP transport's peer set in
// step with the membership and the member addresses, so the node connects to
// new members and drops removed ones.
//
// Adding a member takes two log entries: its address first (an ordinary
// kv-internal command, Op::node_addresses, so every replica and every
// snapshot knows it), then the configuration. A failure between the two
// leaves only an address nobody uses; retrying is safe.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "address_book.h"
#include "cluster_command.h"
#include "kv_command.h"
#include "kv_store.h"
#include "server_options.h"
#include "synod/tcp_transport.h"
#include "synod/uv_host.h"

namespace synod::kv {

class ClusterAdmin {
 public:
  using Respond = std::function<void(std::string resp)>;

  // Everything passed must outlive the admin. transfer_timeout_ms bounds how
  // long CLUSTER TRANSFER waits for the target to lead.
  ClusterAdmin(uv_loop_t* loop, const ServerOptions& options, const KvStore& store,
               const AddressBook& book, TcpTransport& transport, std::uint64_t transfer_timeout_ms);
  ~ClusterAdmin();
  ClusterAdmin(const ClusterAdmin&) = delete;
  ClusterAdmin& operator=(const ClusterAdmin&) = delete;

  // The host runs the replica; set before the host starts (it reports the
  // membership from start()).
  void set_host(UvHost* host) { host_ = host; }
  // Closes the timer; waiting TRANSFER replies are dropped (the client
  // connections are closing too). Run the loop afterwards.
  void stop();

  // UvHostOptions::on_membership.
  void on_membership(const Membership& membership);
  // A logged member address changed (KvStore::addresses_version moved).
  void on_addresses_changed();

  // Runs one CLUSTER command; `reply` is called once with RESP bytes, now or
  // from the loop later.
  void handle(const ClusterCommand& command, Respond reply);

  // INFO's "cluster" section: this node's role in the membership, the
  // voters, the learners, and every member's addresses.
  InfoSection info() const;

 private:
  void add(const ClusterCommand& c, Respond reply);
  void change(MembershipOp op, NodeId node, Respond reply);
  void remove(NodeId node, Respond reply);
  void transfer(NodeId to, Respond reply);
  void poll_transfers();
  std::string nodes() const;
  std::string addresses_command(const ClusterCommand& c, const Membership& m) const;
  std::string membership_refusal(const ProposeResult& r, MembershipOp op, NodeId node) const;
  void refresh_peers();

  uv_loop_t* loop_;
  const ServerOptions& opt_;
  const KvStore& store_;
  const AddressBook& book_;
  TcpTransport& transport_;
  std::uint64_t transfer_timeout_ms_;
  UvHost* host_ = nullptr;
  Membership membership_;    // the last one the host reported
  std::vector<Peer> peers_;  // the last set handed to the transport

  struct PendingTransfer {
    NodeId to;
    std::uint64_t deadline_ms = 0;  // uv_now() scale
    Respond reply;
  };
  std::vector<PendingTransfer> transfers_;
  uv_timer_t* timer_ = nullptr;  // polls transfers_ while it is not empty
};

}  // namespace synod::kv
