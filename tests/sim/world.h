// One simulated cluster for one seed: replicas with MemoryStorage on a faulty
// MemoryNetwork, clients proposing throughout, the scenario's crashes and
// partitions, and the Checker run on every event.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "checker.h"
#include "scenario.h"
#include "sim_storage.h"
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
  std::size_t trace_keep = 60;
  bool verbose = false;
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
};

Result run(const Options& opt);

class World {
 public:
  explicit World(const Options& opt);
  Result run();

 private:
  static constexpr std::uint64_t kStepsPerTick = 10;

  struct Pending {
    std::size_t client = 0;
    std::string payload;
  };
  struct Node {
    explicit Node(bool use_log) : storage(use_log) {}
    NodeId id{};
    SimStorage storage;
    std::optional<Replica> replica;
    std::deque<Ready> staged;                  // saved, waiting for the sync that finishes them
    std::map<std::uint64_t, Pending> pending;  // ticket -> proposal
    std::map<std::uint64_t, std::pair<std::size_t, Slot>> reads;  // ticket -> client, floor
    std::uint64_t incarnation = 0;
    bool crash_mid_ready = false;
    bool rejoining_when_crashed = false;
    std::size_t keep_unsynced = 0;
    // The host's state machine: the slot applied and a digest of every
    // command applied, in order. Lost in a crash (rebuilt from the log or a
    // snapshot).
    Slot app_applied{};
    std::uint64_t digest = 0;
    // A snapshot taken in the background, handed to the replica later.
    std::optional<std::pair<Slot, std::string>> background;
    std::uint64_t background_due = 0;
  };
  struct Client {
    NodeId target{};
    std::string payload;  // the command in hand; empty when a new one is due
    std::uint64_t seq = 0;
    bool outstanding = false;
    std::size_t quota_after_faults = 3;
  };

  Config config_for(NodeId id, bool join) const;
  void start(Node& n, bool wipe);
  void crash(Node& n, bool mid_ready, std::size_t keep);
  void process_ready(Node& n);
  void finish_staged(Node& n);
  void send(Node& n, const Message& m);
  void handle_outcome(Node& n, const ProposalOutcome& o);
  void apply(Node& n, const Ready& rd);
  void maybe_snapshot(Node& n);
  std::string snapshot_data(const Node& n);
  void apply_event(const Event& e);
  void clients_act();
  void client_done(std::size_t c, bool committed);
  void enter_liveness_phase();
  bool settled() const;
  Node& node(NodeId id) { return nodes_[id.value - 1]; }
  void trace(std::string line);
  std::string describe(const Message& m) const;

  Options opt_;
  Scenario scenario_;
  MemoryNetwork<Message> net_;
  Checker checker_;
  Trace trace_;
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  std::vector<Event> late_events_;  // scheduled at run time (leader heals)
  std::uint64_t now_ = 0;           // steps
  std::uint64_t rng_;
  bool faults_over_ = false;
};

}  // namespace synod::sim
