// One simulated many-groups cluster for one seed (synod-sim --groups): every
// node runs one synod::GroupSet holding a replica of each of the scenario's
// groups, all over one faulty MemoryNetwork between the nodes (node
// heartbeats and group messages alike); clients write and read registers
// of several groups. A crash takes all of a node's groups down (their
// storage, one MemoryStorage per group, loses what was not synced) and a
// partition cuts every group's traffic between two nodes. The Checker runs
// per group, every applied command must belong to its group, and each
// group's client history is checked for linearizability. Once the faults
// stop every group must elect (with no client traffic to wake it) and then
// commit new writes; a group that quiesced with every node up and connected
// must hold no further election.
//
// With Options::txn (synod-sim --txn) the groups are shards running the
// cross-shard commit protocol (txn_host.h) and the clients are a bank
// (txn_bank.h) instead of registers (group_world_txn.cc).
#pragma once

#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checker.h"
#include "group_scenario.h"
#include "group_storage.h"
#include "kv_machine.h"
#include "linearizability.h"
#include "synod/group_set.h"
#include "synod/memory_network.h"
#include "trace.h"
#include "txn_bank.h"
#include "txn_host.h"
#include "world.h"

namespace synod::sim {

Result run_groups(const Options& opt);

class GroupWorld {
 public:
  explicit GroupWorld(const Options& opt);
  Result run();

 private:
  static constexpr std::uint64_t kStepsPerTick = 10;
  static constexpr std::uint32_t kElectionTicks = 10;
  static constexpr std::uint32_t kHeartbeatTicks = 2;
  // Idle ticks after settling: five election timeouts, in which no group may
  // elect, and after which every group must sleep (every node up).
  static constexpr std::uint64_t kCodaTicks = 50;

  struct Pending {
    std::size_t client = 0;
    std::string payload;
    std::size_t op = 0;
    bool txn = false;  // the commit protocol's, not a client's write
  };
  struct PendingRead {
    std::size_t client = 0;
    std::size_t op = 0;
    std::string key;
    Slot floor{};
    Slot index{};
  };
  // One group's host state on one node.
  struct Host {
    KvMachine kv;
    std::map<std::uint64_t, Pending> pending;    // ticket -> write
    std::map<std::uint64_t, PendingRead> reads;  // ticket -> read not yet confirmed
    std::vector<PendingRead> serving;            // confirmed, waiting for the apply
  };
  struct Node {
    NodeId id{};
    std::uint64_t incarnation = 0;
    std::unique_ptr<GroupSet> set;          // null while down
    std::unique_ptr<GroupStorage> storage;  // every group's; survives crashes
    std::map<std::uint64_t, Host> hosts;    // group -> host
    std::uint64_t tick_steps = 10;
  };
  struct Client {
    std::map<std::uint64_t, NodeId> target;  // group -> where its writes go
    std::uint64_t group = 0;                 // of the operation it waits for
    std::string key, value;                  // the write in hand; value empty: a new one is due
    std::uint64_t seq = 0;
    std::optional<std::size_t> op;
    NodeId on{};
    std::uint64_t give_up_at = 0;
  };

  Config config_for(const Node& n, std::uint64_t group) const;
  void start(Node& n);
  void crash(Node& n, bool mid_ready, std::size_t keep);
  void pump(Node& n);
  // One round of the Ready loop over these groups: save every Ready, one
  // sync for the node, then send, apply and advance each.
  void process_readys(Node& n, const std::vector<GroupId>& groups, std::vector<Message>& out);
  void finish(Node& n, std::uint64_t g, Ready& rd, std::vector<Message>& out);
  void apply(Node& n, std::uint64_t g, const Ready& rd);
  void note_own_votes(Node& n, std::uint64_t g, const Ready& rd);
  void send_all(Node& n, std::vector<Message>& out);
  void apply_event(const Event& e);
  void enter_liveness_phase();
  void check_leaders();
  void watch_quiescence();
  bool settled();
  void check_asleep();
  std::string describe_group(std::uint64_t g);
  Checker& checker(std::uint64_t g) {
    checking_ = g;
    return checkers_.at(g - 1);
  }

  // Clients (group_world_clients.cc).
  void clients_act();
  void client_write(std::size_t c, std::uint64_t g);
  bool client_read(std::size_t c, std::uint64_t g);
  void handle_outcome(Node& n, std::uint64_t g, const ProposalOutcome& o);
  void handle_read_state(Node& n, std::uint64_t g, const ReadState& r);
  void serve_reads(Node& n, std::uint64_t g);
  void forget_client_ops(Node& n);
  bool settle(std::size_t c, std::size_t op);
  void give_up(std::size_t c);
  std::uint64_t draw(std::uint64_t n);
  void check_history(Result& res);

  // The commit protocol and the bank (group_world_txn.cc).
  struct TxnClient {
    std::optional<txn::TxnPlan> plan;        // in hand; started once `on` is set
    std::map<std::uint64_t, NodeId> target;  // group -> where its EXECs go
    NodeId on{};                             // the node it waits for, once started
    std::uint64_t give_up_at = 0;
  };
  void txn_setup();
  bool txn_flush(Node& n);
  void txn_clients_act();
  void txn_take_outcomes();
  void txn_forget_clients(NodeId n);
  bool txn_settled() const;
  void txn_final_check(Result& res);

  Node& node(NodeId id) { return nodes_[id.value - 1]; }
  template <typename... Args>
  void trace(fmt::format_string<Args...> f, Args&&... args) {
    std::string line = fmt::format(f, std::forward<Args>(args)...);
    if (opt_.verbose) fmt::print("{}\n", line);
    trace_.add(line);
  }
  void trace_message(std::string_view what, NodeId from, const Message& m);

  Options opt_;
  GroupScenario scenario_;
  MemoryNetwork<Message> net_;
  std::vector<Checker> checkers_;  // per group, index group - 1
  std::uint64_t checking_ = 0;     // the group the checker last called is for
  Trace trace_;
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  History history_;
  std::uint64_t now_ = 0;  // steps
  std::uint64_t rng_;
  bool faults_over_ = false;
  NodeId dead_{};                  // down for good once the faults stop
  std::uint64_t leaders_due_ = 0;  // tick: every group must have a leader by then
  bool leaders_checked_ = false;
  // Per group, once faults are over: quiesced (every running replica asleep
  // under one running leader, which a prepare may not follow).
  std::vector<bool> quiesced_calm_;
  std::vector<NodeId> calm_leader_;
  std::vector<std::uint64_t> writes_due_;  // per group: writes to commit after the faults
  std::unique_ptr<TxnHost> txn_;           // --txn only
  std::unique_ptr<TxnBank> bank_;
  std::vector<TxnClient> txn_clients_;
  std::uint64_t txn_seq_ = 0;
  std::uint64_t txn_commits_due_ = 0;  // transactions to commit after the faults
};

}  // namespace synod::sim
