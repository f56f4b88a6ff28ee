// One simulated cluster for one seed: replicas with MemoryStorage on a faulty
// MemoryNetwork, clients writing and reading a few registers throughout, the
// scenario's crashes, partitions and membership changes, the Checker run on
// every event, and the clients' history checked for linearizability at the
// end.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "checker.h"
#include "core/planted_bugs.h"
#include "kv_machine.h"
#include "linearizability.h"
#include "scenario.h"
#include "sim_storage.h"
#include "synod/membership.h"
#include "synod/memory_network.h"
#include "synod/memory_storage.h"
#include "synod/replica.h"
#include "trace.h"

namespace synod::sim {

struct Options {
  std::uint64_t seed = 1;
  std::size_t replicas = 0;  // 0: drawn from the seed
  std::uint64_t fault_ticks = 1500;
  std::uint64_t liveness_ticks = 1500;  // after faults stop, all must settle within
  PlantedBug bug = PlantedBug::none;
  // Many groups per node (group_world.h) instead of one cluster.
  bool groups = false;
  std::size_t trace_keep = 60;
  bool verbose = false;
  // Config::quiesce on every replica; the world plays the host's node
  // liveness (node heartbeats, wake()) and, once settled, checks that the
  // idle group falls asleep and stays asleep (world_quiesce.cc).
  bool quiesce = false;
  // The cross-shard commit protocol on the many-group worlds (implies
  // groups; tests/sim/txn_host.h): a bank over every group instead of
  // register clients. txn_plant: one of the commit protocol's planted bugs
  // (TxnHost::plants(), txn_host.h) on every machine, or empty.
  bool txn = false;
  std::string txn_plant;
};

struct Result {
  bool ok = true;
  std::string failure;
  std::uint64_t trace_hash = 0;
  std::uint64_t events = 0;
  std::size_t chosen_slots = 0;
  std::size_t acknowledged = 0;
  std::uint64_t ticks = 0;
  std::string scenario;
  std::vector<std::string> last_events;
  // The client history's linearizability check (run even when another
  // check failed first).
  std::size_t ops_checked = 0;
  std::size_t ops_unknown = 0;
  // --txn: transactions the coordinators' logs decided, and committed reads
  // of every balance checked.
  std::size_t txns_committed = 0, txns_aborted = 0, txn_reads_checked = 0;
};

Result run(const Options& opt);

class World {
 public:
  explicit World(const Options& opt);
  Result run();

 private:
  static constexpr std::uint64_t kStepsPerTick = 10;

  // A write in flight on a node, and the history operation it is.
  struct Pending {
    std::size_t client = 0;
    std::string payload;
    std::size_t op = 0;
  };
  // A read asked of a node: waiting for its ReadState, then (index known)
  // for the node to apply up to the index.
  struct PendingRead {
    std::size_t client = 0;
    std::size_t op = 0;
    std::string key;
    Slot floor{};  // Checker::acknowledged_floor() when asked
    Slot index{};  // once confirmed
  };
  // A membership change the scenario asks for; its node is picked when it
  // is first asked of a leader, and kept while it is retried.
  struct Change {
    MembershipOp op = MembershipOp::add_voter;
    std::uint64_t pick = 0;
    bool voters_only = false;  // remove: a voter, not a learner
    NodeId target{};
    std::uint64_t until = 0;  // tick: given up after
  };
  // Where a node stands in the cluster, as the world tracks it.
  enum class Life : std::uint8_t {
    spare,    // never started; an addition may start it
    joining,  // started fresh as a learner; no configuration chosen names it yet
    member,   // named by the latest configuration chosen (running or crashed)
    removed,  // no longer named: stopped soon, back only wiped, as a new joiner
  };
  struct Node {
    explicit Node(bool use_log) : storage(use_log) {}
    NodeId id{};
    Life life = Life::member;
    // Its command line (Config::voters, learners, join_existing): a restart
    // keeps it; a wipe or a new join takes the membership of the moment.
    std::vector<NodeId> voters, learners;
    bool join = false;
    // A configuration proposed since it joined names it a voter, so it may
    // have voted: wiped, it must rejoin before it votes again.
    bool maybe_voter = false;
    std::uint64_t stop_at = 0;  // removed: not stopped before this tick
    // removed: the first slot the configuration without it governs. Until
    // every member committed the slot before, the configurations naming it
    // may still need its vote.
    Slot removal_governs{};
    std::map<std::uint64_t, Change> changes;  // ticket -> change asked of it
    SimStorage storage;
    std::optional<Replica> replica;
    struct Staged {
      Ready rd;
      bool applied = false;     // early_apply: applied and answered when staged
      bool taken_awake = true;  // the replica was awake when the host took rd
    };
    std::deque<Staged> staged;                   // saved, waiting for the sync that finishes them
    std::map<std::uint64_t, Pending> pending;    // ticket -> proposal
    std::map<std::uint64_t, PendingRead> reads;  // ticket -> read not yet confirmed
    std::vector<PendingRead> serving;            // confirmed, waiting for the apply
    std::uint64_t incarnation = 0;
    bool crash_mid_ready = false;
    bool rejoining_when_crashed = false;
    std::size_t keep_unsynced = 0;
    // The host's state machine. Lost in a crash (rebuilt from the log or a
    // snapshot).
    KvMachine kv;
    // A snapshot taken in the background, handed to the replica later.
    std::optional<std::pair<Slot, std::string>> background;
    std::uint64_t background_due = 0;
    std::uint64_t tick_steps = 10;  // the scenario's, or slower while isolated
  };
  // A client has at most one operation it waits for; one it gave up on may
  // still end later (the history records that, the client moves on).
  struct Client {
    NodeId target{};         // where writes go: the leader, as far as it knows
    NodeId read_target{};    // where reads go: kept while reads succeed there
    std::string key, value;  // the write in hand; value empty when a new one is due
    std::uint64_t seq = 0;
    std::optional<std::size_t> op;  // the history operation it waits for
    NodeId on{};                    // the node it asked
    std::uint64_t give_up_at = 0;   // step
    // A node it gave up on: hints naming it are ignored for a while, or a
    // client would go straight back to a cut-off leader that still says yes.
    NodeId shunned{};
    std::uint64_t shunned_until = 0;
    std::size_t quota_after_faults = 3;
  };

  Config config_for(const Node& n) const;
  void start(Node& n, bool wipe);
  void boot(Node& n, bool fresh);
  void crash(Node& n, bool mid_ready, std::size_t keep);
  void process_ready(Node& n);
  void finish_staged(Node& n);
  // sender_awake: the replica was awake when the host took the Ready.
  void send(Node& n, const Message& m, bool sender_awake);
  void apply(Node& n, const Ready& rd);
  void maybe_snapshot(Node& n);
  std::string snapshot_data(const Node& n);
  void apply_event(const Event& e);
  // Hostile input on the scenario's forgery seeds (world_forgeries.cc).
  void forge(std::uint64_t tick);
  std::uint64_t forge_rng_ = 0;
  void note_own_votes(Node& n, const Ready& rd);
  void check_history(Result& res);

  // Membership (world_membership.cc): joiners, changes asked of the leader,
  // removed nodes stopped, and which nodes liveness waits for.
  Node* leader();
  void observe_membership();
  void fresh_command_line(Node& n);
  void join(Node& n);
  void transfer(const Event& e);
  void try_change();
  bool pick_target(Change& c, const Membership& m);
  bool handle_change_outcome(Node& n, const ProposalOutcome& o);
  void requeue_changes(Node& n);
  void note_voters(const Message& m);
  void track_membership();
  std::size_t failed_for_wipes(const Node& except) const;
  Slot commit_of(const Node& n) const;
  Ballot promise_of(const Node& n) const;
  Slot members_commit() const;
  bool may_readd(const Node& x) const;
  bool still_needed(const Node& removed) const;
  std::string describe_life(const Node& n) const;

  // Clients (world_clients.cc): their operations and the history.
  void clients_act();
  void client_write(std::size_t c);
  bool client_read(std::size_t c);  // false: refused at once
  void handle_outcome(Node& n, const ProposalOutcome& o);
  void handle_read_state(Node& n, const ReadState& r);
  void serve_reads(Node& n);
  void forget_client_ops(Node& n);
  void wait_for(Client& cl, std::size_t op, NodeId on);
  bool settle(std::size_t c, std::size_t op);
  void give_up(std::size_t c);
  NodeId next_target(const Client& cl, NodeId from, NodeId hint);
  std::uint64_t draw(std::uint64_t n);  // in [0, n)
  NodeId random_node() { return NodeId{draw(nodes_.size()) + 1}; }
  void enter_liveness_phase();
  bool settled();

  // Quiescence (world_quiesce.cc): the host's node-level liveness, and the
  // check that a settled group sleeps without waking.
  void node_heartbeats();
  void note_heard(NodeId to, NodeId from) { heard_at_[to.value - 1][from.value - 1] = now_; }
  void host_wakes(Node& n);
  // After settled(): true once the group slept long enough; throws when it
  // woke with no fault or never fell asleep.
  bool quiet_enough();
  // Whether a message its replica sent awake, still in the network or in a
  // Ready not yet finished, would wake the member it goes to.
  bool wake_in_flight() const;
  Node& node(NodeId id) { return nodes_[id.value - 1]; }
  template <typename... Args>
  void trace(fmt::format_string<Args...> f, Args&&... args) {
    line_.clear();
    fmt::format_to(fmt::appender(line_), f, std::forward<Args>(args)...);
    emit();
  }
  void trace_message(std::string_view what, const Message& m);
  void emit();  // line_ to the trace (and stdout when verbose)
  static std::string describe(const Membership& m);

  Options opt_;
  Scenario scenario_;
  // What the network carries: a message, and whether its replica was awake
  // when the host took the Ready holding it (wake_in_flight).
  struct Packet {
    Message msg;
    bool sent_awake = true;
  };
  MemoryNetwork<Packet> net_;
  Checker checker_;
  Trace trace_;
  fmt::memory_buffer line_;  // the trace line being formatted
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  std::vector<std::string> keys_;  // the registers clients write and read
  History history_;
  std::vector<Event> late_events_;  // scheduled at run time (leader heals)
  std::deque<Change> changes_;      // waiting for a leader that takes them
  // The latest configuration any replica has committed (the one with the
  // highest commit index says): what a joiner is told, and liveness expects.
  Membership latest_;
  Slot latest_from_{};  // the first slot it governs
  Slot latest_commit_{};
  std::uint64_t now_ = 0;  // steps
  std::uint64_t rng_;
  bool faults_over_ = false;
  // Quiescence: per node, the step it last heard anything from each node.
  std::vector<std::vector<std::uint64_t>> heard_at_;
  std::uint64_t settled_at_ = 0;    // tick; 0 until settled (quiesce only)
  std::uint64_t asleep_since_ = 0;  // tick every member was first seen asleep
  std::string asleep_state_;        // their leaders and ballots then
  // Then the sleeping group's leader is crashed: a new leader must follow.
  std::uint64_t leader_crashed_at_ = 0;  // tick
  Ballot crashed_ballot_{};
};

}  // namespace synod::sim
