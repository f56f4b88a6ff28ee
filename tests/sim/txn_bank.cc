#include "txn_bank.h"

#include <fmt/format.h>

#include <charconv>

#include "checker.h"
#include "hash_slot.h"

namespace synod::sim {

namespace {

kv::Request cmd(kv::Op op, std::vector<std::string> args) {
  return kv::Request{op, std::move(args), {}};
}

std::string_view kind_name(txn::ClientOutcome::Kind k) {
  switch (k) {
    case txn::ClientOutcome::Kind::committed:
      return "committed";
    case txn::ClientOutcome::Kind::aborted:
      return "aborted";
    case txn::ClientOutcome::Kind::unknown:
      break;
  }
  return "unknown";
}

std::string id_name(const txn::TxnId& t) { return fmt::format("txn {}.{}", t.coordinator, t.seq); }

std::optional<long> number(const std::string& s) {
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

TxnBank::TxnBank(std::size_t shards, std::uint64_t seed)
    : shards_(shards), draw_{seed * 0xd1b54a32d192ed03ULL + 17} {
  // Two accounts per shard, found by hash slot as a cluster client would.
  kv::SlotMap slots(shards);
  std::vector<std::size_t> have(shards, 0);
  for (std::size_t i = 0, placed = 0; placed < 2 * shards; ++i) {
    std::string name = fmt::format("acct{}", i);
    std::size_t s = slots.shard_of_key(name);
    if (have[s] == 2) continue;
    ++have[s];
    ++placed;
    names_.push_back(std::move(name));
    shard_of_.push_back(s + 1);
  }
}

void TxnBank::seed(std::uint64_t shard, kv::KvStore& store) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (shard_of_[i] == shard)
      store.execute(kv::Request{kv::Op::set, {names_[i], std::to_string(kStart)}, {}});
}

txn::TxnPlan TxnBank::next_plan(std::uint64_t seq) {
  Planned p;
  std::size_t first = draw_.below(names_.size());
  p.plan.id = {static_cast<txn::ShardId>(shard_of_[first]), seq};
  if (draw_.below(5) == 0) {
    p.read = true;
    // The first key's shard coordinates: its GET comes first.
    for (std::size_t k = 0; k < names_.size(); ++k) {
      std::size_t i = (first + k) % names_.size();
      p.plan.parts[static_cast<txn::ShardId>(shard_of_[i])].commands.push_back(
          cmd(kv::Op::get, {names_[i]}));
    }
  } else {
    p.from = first;
    do p.to = draw_.below(names_.size());
    while (shard_of_[p.to] == shard_of_[p.from]);
    p.amount = static_cast<long>(draw_.between(1, 30));
    auto from_shard = static_cast<txn::ShardId>(shard_of_[p.from]);
    auto to_shard = static_cast<txn::ShardId>(shard_of_[p.to]);
    p.plan.parts[from_shard].commands.push_back(
        cmd(kv::Op::decrby, {names_[p.from], std::to_string(p.amount)}));
    p.plan.parts[to_shard].commands.push_back(
        cmd(kv::Op::incrby, {names_[p.to], std::to_string(p.amount)}));
  }
  txn::TxnPlan plan = p.plan;
  plans_.emplace(plan.id, std::move(p));
  return plan;
}

void TxnBank::on_outcome(const txn::ClientOutcome& o) {
  if (o.kind == txn::ClientOutcome::Kind::unknown) return;
  auto [it, first] = told_.emplace(o.txn, o.kind);
  if (!first && it->second != o.kind && conflicting_answer_.empty())
    conflicting_answer_ = fmt::format("{} was answered {} and then {}", id_name(o.txn),
                                      kind_name(it->second), kind_name(o.kind));
  auto p = plans_.find(o.txn);
  if (first && p != plans_.end() && p->second.read && o.kind == txn::ClientOutcome::Kind::committed)
    reads_.push_back(o);
}

std::optional<bool> TxnBank::decision(TxnHost& host, const std::vector<NodeId>& running,
                                      const txn::TxnId& id) const {
  // What the log chose, as recorded when it happened (the machines forget).
  std::optional<bool> d = host.decided(id);
  for (NodeId n : running) {
    std::optional<bool> here = host.coordinator(n, id.coordinator).decision(id);
    if (here.has_value() && here != d)
      throw CheckFailure(
          fmt::format("{}: coordinator group {} on node {} holds {}, but its log "
                      "chose {}",
                      id_name(id), id.coordinator, n.value, *here ? "commit" : "abort",
                      !d   ? "nothing"
                      : *d ? "commit"
                           : "abort"));
  }
  return d;
}

TxnTally TxnBank::final_check(TxnHost& host, const std::vector<NodeId>& running) const {
  TxnTally tally;
  auto fail = [](std::string why) { throw CheckFailure("txn: " + std::move(why)); };
  for (NodeId n : running)
    for (std::uint64_t g = 1; g <= shards_; ++g) {
      if (host.participant(n, g).prepared_count() != 0 || host.participant(n, g).locks() != 0)
        fail(fmt::format(
            "node {} group {}: {} transaction(s) still prepared, {} key(s) locked "
            "once quiet",
            n.value, g, host.participant(n, g).prepared_count(), host.participant(n, g).locks()));
      if (host.participant(n, g).unconfirmed_count() != 0)
        fail(
            fmt::format("node {} group {}: {} no vote(s) whose abort the coordinator's log "
                        "never confirmed once quiet",
                        n.value, g, host.participant(n, g).unconfirmed_count()));
      if (host.coordinator(n, g).undecided() != 0)
        fail(fmt::format("node {} group {}: {} begun transaction(s) never decided", n.value, g,
                         host.coordinator(n, g).undecided()));
    }
  // All or nothing, from the decisions; the balances they imply.
  std::vector<long> expected(names_.size(), kStart);
  for (const auto& [id, p] : plans_) {
    std::optional<bool> d = decision(host, running, id);
    // Undecided and below its coordinator's floor: void, an abort by the
    // protocol's rules (docs/kv.md "Forgetting"); a shard may record it so.
    bool void_below_floor = false;
    for (NodeId n : running)
      if (!d && id.seq < host.coordinator(n, id.coordinator).floor()) void_below_floor = true;
    for (const auto& [shard, part] : p.plan.parts)
      for (NodeId n : running) {
        std::optional<bool> got = host.participant(n, shard).outcome(id);
        std::optional<bool> then = host.recorded(n, shard, id);
        if (got.has_value() && then.has_value() && got != then)
          fail(fmt::format("{}: group {} on node {} holds {} but recorded {}", id_name(id), shard,
                           n.value, *got ? "commit" : "abort", *then ? "commit" : "abort"));
        if (!got) got = then;
        if (got.has_value() && got != d && !(void_below_floor && got == false))
          fail(fmt::format("{}: group {} on node {} recorded {} but the coordinator's log {}",
                           id_name(id), shard, n.value, *got ? "commit" : "abort",
                           !d   ? "holds no decision"
                           : *d ? "chose commit"
                                : "chose abort"));
        // Every replica applies its whole log here (no snapshots), so every
        // one recorded the outcome before any forgot it.
        if (d.has_value() && !got.has_value())
          fail(fmt::format("{}: decided {} but group {} on node {} never recorded it", id_name(id),
                           *d ? "commit" : "abort", shard, n.value));
      }
    if (auto t = told_.find(id);
        t != told_.end() && t->second == txn::ClientOutcome::Kind::committed && !d.has_value())
      fail(
          fmt::format("{}: the client was told committed but the coordinator's log holds no "
                      "decision",
                      id_name(id)));
    if (auto t = told_.find(id); t != told_.end() && d.has_value() &&
                                 *d != (t->second == txn::ClientOutcome::Kind::committed))
      fail(fmt::format("{}: the client was told {} but the coordinator's log chose {}", id_name(id),
                       kind_name(t->second), *d ? "commit" : "abort"));
    if (d == true) ++tally.committed;
    if (d == false) ++tally.aborted;
    if (d != true || p.read) continue;
    expected[p.from] -= p.amount;
    expected[p.to] += p.amount;
  }
  long total = 0;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    total += expected[i];
    for (NodeId n : running) {
      const std::string* have = host.store(n, shard_of_[i]).find(names_[i]);
      if (have == nullptr || number(*have) != expected[i])
        fail(
            fmt::format("{} on node {} (group {}) holds {}, but the committed transfers make it "
                        "{}: a transaction applied in part, or applied without a commit",
                        names_[i], n.value, shard_of_[i], have ? *have : "(nil)", expected[i]));
    }
  }
  if (total != long(names_.size()) * kStart) fail(fmt::format("the total is {}", total));
  if (!conflicting_answer_.empty()) fail(conflicting_answer_);
  for (const txn::ClientOutcome& o : reads_) {
    long sum = 0;
    std::size_t balances = 0;
    for (const auto& [shard, replies] : o.results)
      for (const kv::Reply& r : replies) {
        std::optional<long> v = r.kind == kv::Reply::Kind::bulk ? number(r.str) : std::nullopt;
        if (!v) continue;
        sum += *v;
        ++balances;
      }
    if (balances != names_.size() || sum != long(names_.size()) * kStart)
      fail(
          fmt::format("{}: a committed read returned {} of {} balances summing to {}; only {} "
                      "ever existed",
                      id_name(o.txn), balances, names_.size(), sum, long(names_.size()) * kStart));
    ++tally.reads_checked;
  }
  return tally;
}

}  // namespace synod::sim
