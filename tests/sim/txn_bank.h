// The bank workload of synod-sim --txn and its checks (issue 14, docs/
// testing.md): two accounts of 100 on every shard (names picked by Redis
// Cluster hash slot, SlotMap), transfers between accounts on different
// shards (DECRBY on one, INCRBY on the other, coordinated by the first's
// shard) and reads of every balance in one transaction. The bank draws the
// plans and records what each client was told; once the world is quiet it
// checks every running node against the coordinators' decisions:
// - nothing left in progress: no prepared transaction, no lock, no begun
//   transaction undecided;
// - every replica of a coordinator's group holds the same decision, and
//   every participant shard, on every replica, recorded that outcome;
// - every account on every replica holds its start balance plus exactly
//   the committed transfers (a transaction applied on one shard and not
//   the other, or applied although aborted, shows here); the total holds;
// - every client told committed or aborted was told what the log decided;
// - every committed read returned every balance, summing to the total
//   (a read may only see totals that existed).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "draw.h"
#include "txn_host.h"

namespace synod::sim {

struct TxnTally {
  std::size_t committed = 0, aborted = 0, reads_checked = 0;
};

class TxnBank {
 public:
  TxnBank(std::size_t shards, std::uint64_t seed);

  // The accounts of `shard`, at their start balance (TxnHost::Seed).
  void seed(std::uint64_t shard, kv::KvStore& store) const;
  // A new transaction, numbered seq: a transfer, or one read in five.
  txn::TxnPlan next_plan(std::uint64_t seq);
  // What a coordinator answered a client.
  void on_outcome(const txn::ClientOutcome& o);

  // Throws CheckFailure at the first violation; the tally otherwise.
  TxnTally final_check(TxnHost& host, const std::vector<NodeId>& running) const;
  std::size_t accounts() const { return names_.size(); }

 private:
  struct Planned {
    txn::TxnPlan plan;
    bool read = false;
    std::size_t from = 0, to = 0;  // account indexes (transfers)
    long amount = 0;
  };
  std::optional<bool> decision(TxnHost& host, const std::vector<NodeId>& running,
                               const txn::TxnId& id) const;

  static constexpr long kStart = 100;
  std::size_t shards_;
  Draw draw_;
  std::vector<std::string> names_;
  std::vector<std::uint64_t> shard_of_;  // per account: its group
  std::map<txn::TxnId, Planned> plans_;
  std::map<txn::TxnId, txn::ClientOutcome::Kind> told_;
  std::string conflicting_answer_;         // a txn answered twice, differently
  std::vector<txn::ClientOutcome> reads_;  // committed reads
};

}  // namespace synod::sim
