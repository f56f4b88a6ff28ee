// The cross-shard commit protocol (examples/kv/txn/) driven with log entries
// and messages in a small in-process model (txn_world.h): all-or-nothing
// under coordinator and participant leader crashes, lost, duplicated and
// reordered messages, a bank workload across 3 shards, and the planted bug
// "a participant applies before the decision is chosen" caught.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "hash_slot.h"
#include "txn_world.h"

using namespace synod::kv;
using namespace synod::kv::txn;
using synod::kv::txn::test::Faults;
using synod::kv::txn::test::World;

namespace {

Request cmd(Op op, std::vector<std::string> args) { return Request{op, std::move(args), {}}; }

// Moves `amount` from key a (shard sa) to key b (shard sb), coordinated by sa.
TxnPlan transfer(std::uint64_t seq, ShardId sa, const std::string& a, ShardId sb,
                 const std::string& b, int amount) {
  TxnPlan p;
  p.id = {sa, seq};
  p.parts[sa].commands.push_back(cmd(Op::decrby, {a, std::to_string(amount)}));
  p.parts[sb].commands.push_back(cmd(Op::incrby, {b, std::to_string(amount)}));
  return p;
}

std::string value(World& w, ShardId s, const std::string& key, std::size_t replica = 0) {
  const std::string* v = w.store(s, replica).find(key);
  return v ? *v : "(nil)";
}

// Two shards, "a" on 0 and "b" on 1, 100 each.
World two_shards(std::uint64_t seed = 1) {
  World w(2, seed);
  w.seed_key(0, "a", "100");
  w.seed_key(1, "b", "100");
  return w;
}

}  // namespace

TEST_CASE("a two-shard transaction commits on both shards and answers every result") {
  World w = two_shards();
  TxnPlan p = transfer(1, 0, "a", 1, "b", 30);
  p.parts[1].commands.push_back(cmd(Op::get, {"b"}));
  w.start(p);
  CHECK(w.settle());
  CHECK(w.decision(0, p.id) == true);
  CHECK(value(w, 0, "a") == "70");
  CHECK(value(w, 1, "b") == "130");
  CHECK(value(w, 1, "b", 1) == "130");  // the follower replica too
  REQUIRE(w.outcomes().contains(p.id));
  const ClientOutcome& o = w.outcomes().at(p.id);
  CHECK(o.kind == ClientOutcome::Kind::committed);
  Reply r = client_reply(o, {{0, 0}, {1, 0}, {1, 1}});
  CHECK(to_resp(r) == "*3\r\n:70\r\n:130\r\n$3\r\n130\r\n");
  CHECK(w.participant(0).locks() == 0);
  CHECK(w.participant(1).locks() == 0);
}

TEST_CASE("a prepared key is locked; a second transaction on it aborts, retryable") {
  World w = two_shards();
  TxnPlan first = transfer(1, 0, "a", 1, "b", 10);
  w.start(first);
  w.choose_all();   // Begin
  w.deliver_all();  // prepares
  w.choose_all();   // PrepareEntries: a and b locked
  CHECK(w.participant(0).locked("a"));
  CHECK(w.participant(1).locked("b"));
  CHECK(to_resp(Participant::locked_reply("b")).starts_with("-TRYAGAIN key 'b' is locked"));
  TxnPlan second = transfer(1, 1, "b", 0, "a", 5);  // coordinated by shard 1
  w.start(second);
  CHECK(w.settle());
  CHECK(w.decision(0, first.id) == true);
  CHECK(w.decision(1, second.id) == false);
  const ClientOutcome& o = w.outcomes().at(second.id);
  CHECK(o.kind == ClientOutcome::Kind::aborted);
  CHECK(o.reason == AbortReason::locked);
  CHECK(to_resp(client_reply(o, {})).starts_with("-TRYAGAIN transaction aborted"));
  CHECK(value(w, 0, "a") == "90");  // only the first applied
  CHECK(value(w, 1, "b") == "110");
  CHECK_FALSE(w.participant(0).locked("a"));
}

TEST_CASE("a failed WATCH check on one shard aborts every shard, and EXEC answers nil") {
  World w = two_shards();
  TxnPlan p = transfer(1, 0, "a", 1, "b", 10);
  p.parts[1].checks.push_back({"b", w.store(1).version_of("b") + 1});  // b moved since WATCH
  w.start(p);
  CHECK(w.settle());
  CHECK(w.decision(0, p.id) == false);
  CHECK(to_resp(client_reply(w.outcomes().at(p.id), {})) == "*-1\r\n");
  CHECK(value(w, 0, "a") == "100");
  CHECK(value(w, 1, "b") == "100");
  CHECK(w.outcome(0, p.id) == false);
  CHECK(w.outcome(1, p.id) == false);
}

TEST_CASE("coordinator crash before the decision: the new leader aborts, nothing applies") {
  World w = two_shards();
  TxnPlan p = transfer(1, 0, "a", 1, "b", 10);
  w.start(p);
  w.choose_all();          // Begin
  w.deliver_all();         // prepares
  w.choose_all();          // both prepared, votes yes in the network
  w.deliver_all();         // votes: the leader proposes commit...
  w.crash_leader(0, 0.0);  // ...and dies before it is chosen
  CHECK(w.outcomes().at(p.id).kind == ClientOutcome::Kind::unknown);
  CHECK(w.settle());
  CHECK(w.decision(0, p.id) == false);
  CHECK(w.decision(0, p.id, 0) == false);  // both replicas of the log
  CHECK(value(w, 0, "a") == "100");
  CHECK(value(w, 1, "b") == "100");
  CHECK(w.outcome(1, p.id) == false);
}

TEST_CASE("prepares go out with the Begin; votes before it is applied wait for it") {
  World w = two_shards();
  TxnPlan p = transfer(1, 0, "a", 1, "b", 10);
  w.start(p);
  // Two rounds: the prepares are in the network before the Begin is chosen.
  CHECK(w.network().size() == 2);
  w.deliver_all();  // prepares: each shard proposes its Prepare
  w.choose_one(1);  // shard 1 prepared: its yes vote goes out
  w.deliver_all();  // the vote reaches a coordinator whose Begin is in flight
  CHECK_FALSE(w.decision(0, p.id).has_value());
  // An inquiry while the Begin is in flight aborts nothing.
  CHECK(w.coordinator(0).on_inquiry(InquiryMsg{p.id, 1, shards_of(p)}).propose.empty());
  CHECK(w.settle());
  CHECK(w.decision(0, p.id) == true);
  CHECK(value(w, 0, "a") == "90");
  CHECK(value(w, 1, "b") == "110");
  CHECK(w.outcomes().at(p.id).kind == ClientOutcome::Kind::committed);
}

TEST_CASE("a Begin lost with its leader: the abort reaches every participant, prepared or not") {
  World w(3, 1);
  w.seed_key(0, "a", "100");
  w.seed_key(1, "b", "100");
  w.seed_key(2, "c", "100");
  TxnPlan p = transfer(1, 0, "a", 1, "b", 10);
  p.parts[2].commands.push_back(cmd(Op::incrby, {"c", "1"}));
  w.start(p);
  // Shard 2 never hears the prepare; shard 1 prepares; the Begin and shard
  // 0's own Prepare die with the coordinator's leader.
  std::erase_if(w.network(), [](const Envelope& e) { return e.to == 2; });
  w.deliver_all();
  w.choose_all();  // shard 1's Prepare (and shard 0's, with the Begin)...
  w.crash_leader(0, 0.0);
  CHECK(w.participant(1).locked("b"));
  CHECK(w.settle());  // shard 1 inquires; the new leader aborts for the inquiry's list
  CHECK(w.decision(0, p.id) == false);
  for (ShardId s = 0; s < 3; ++s) CHECK(w.outcome(s, p.id) == false);
  CHECK_FALSE(w.participant(1).locked("b"));
  CHECK(value(w, 1, "b") == "100");
  // The old leader's late prepare, after the abort: nothing locks.
  w.network().push_back({2, PrepareMsg{p.id, p.parts[2], shards_of(p)}});
  CHECK(w.settle());
  CHECK_FALSE(w.participant(2).locked("c"));
  CHECK(w.participant(2).prepared_count() == 0);
  // And the lost Begin, chosen now after the Decide, restarts nothing.
  w.coordinator(0).apply(BeginEntry{p});
  CHECK(w.decision(0, p.id) == false);
  CHECK(w.coordinator(0).undecided() == 0);
}

TEST_CASE("coordinator crash after the decision is chosen: the new leader finishes the commit") {
  World w = two_shards();
  TxnPlan p = transfer(1, 0, "a", 1, "b", 10);
  w.start(p);
  w.choose_all();
  w.deliver_all();
  w.choose_all();
  w.deliver_all();         // votes in: commit proposed
  w.crash_leader(0, 1.0);  // chosen as the leader dies, before it sent the decision
  CHECK(w.decision(0, p.id) == true);
  // What is in the network now is the new leader's: the decision, resent
  // from its log to both participants.
  REQUIRE(w.network().size() == 2);
  for (const Envelope& e : w.network()) CHECK(std::get<DecisionMsg>(e.msg).commit);
  CHECK(w.settle());
  CHECK(value(w, 0, "a") == "90");
  CHECK(value(w, 1, "b") == "110");
  CHECK(value(w, 1, "b", 0) == value(w, 1, "b", 1));
}

TEST_CASE("participant crash after prepare with the decision lost: its inquiry finishes it") {
  World w = two_shards();
  TxnPlan p = transfer(1, 0, "a", 1, "b", 10);
  w.start(p);
  w.choose_all();
  w.deliver_all();
  w.choose_all();   // prepared on both
  w.deliver_all();  // votes
  w.choose_all();   // decision commit chosen; decisions in the network
  std::erase_if(w.network(), [](const Envelope& e) { return e.to == 1; });  // lost
  w.crash_leader(1);
  CHECK(w.participant(1, 1).prepared_count() == 1);  // the new leader holds it prepared
  CHECK(w.settle());
  CHECK(value(w, 1, "b") == "110");
  CHECK(w.outcome(1, p.id) == true);
}

TEST_CASE("an abort that overtakes the prepare leaves nothing locked; duplicates change nothing") {
  World w = two_shards();
  TxnPlan p = transfer(1, 0, "a", 1, "b", 10);
  PrepareMsg late{p.id, p.parts[1], shards_of(p)};
  // The decision (abort) reaches shard 1 first, then the prepare, twice.
  w.network().push_back({1, DecisionMsg{p.id, false}});
  w.deliver_all();
  w.choose_all();
  CHECK(w.outcome(1, p.id) == false);
  w.network().push_back({1, late});
  w.network().push_back({1, late});
  w.deliver_all();
  w.choose_all();
  CHECK_FALSE(w.participant(1).locked("b"));
  CHECK(w.participant(1).prepared_count() == 0);
  // A commit decision after it (no coordinator sends one, but a forged or
  // duplicated message must not flip the outcome) changes nothing.
  w.network().push_back({1, DecisionMsg{p.id, true}});
  w.deliver_all();
  w.choose_all();
  CHECK(w.outcome(1, p.id) == false);
  CHECK(value(w, 1, "b") == "100");
}

TEST_CASE("the first decision in the coordinator's log is the only truth") {
  Coordinator c(0);
  c.become_leader();
  TxnId t{0, 7};
  c.apply(BeginEntry{transfer(7, 0, "a", 1, "b", 1)});
  c.apply(DecideEntry{t, false, AbortReason::in_doubt, {0, 1}});
  c.apply(DecideEntry{t, true, AbortReason::none, {0, 1}});
  CHECK(c.decision(t) == false);
  // An inquiry about a transaction never begun gets an abort proposed.
  Effects fx = c.on_inquiry(InquiryMsg{{0, 99}, 1, {0, 1, 3}});
  REQUIRE(fx.propose.size() == 1);
  const auto* d = std::get_if<DecideEntry>(&fx.propose[0]);
  REQUIRE(d != nullptr);
  CHECK_FALSE(d->commit);
  CHECK(d->reason == AbortReason::unknown_txn);
  CHECK(d->shards == ShardList{0, 1, 3});
  // Once it is decided, every shard of the inquiry's list is told, and the
  // inquirer gets the decision.
  fx = c.apply(fx.propose[0]);
  CHECK(fx.send.size() == 3);
  fx = c.on_inquiry(InquiryMsg{{0, 99}, 1, {0, 1, 3}});
  REQUIRE(fx.send.size() == 1);
  CHECK(std::get<DecisionMsg>(fx.send[0].msg).commit == false);
}

namespace {

// The bank: 12 accounts of 100 over 3 shards by hash slot; transfers
// between accounts on different shards and reads of every balance in one
// transaction. Returns the first violation found, or "".
std::string bank(std::uint64_t seed, Faults faults, bool planted, std::size_t* committed) {
  constexpr int kAccounts = 12, kStart = 100;
  SlotMap slots(3);
  ParticipantOptions po;
  po.planted_apply_before_decision = planted;
  World w(3, seed, faults, po);
  std::vector<std::string> names;
  std::vector<ShardId> shard;
  for (int i = 0; i < kAccounts; ++i) {
    names.push_back("acct" + std::to_string(i));
    shard.push_back(static_cast<ShardId>(slots.shard_of_key(names.back())));
    w.seed_key(shard.back(), names.back(), std::to_string(kStart));
  }
  std::mt19937_64 rng(seed * 7919);
  std::vector<TxnPlan> plans;
  std::vector<int> amounts;
  std::vector<bool> is_read;
  for (std::uint64_t n = 1; n <= 60; ++n) {
    if (n % 5 == 0) {  // read every balance
      TxnPlan p;
      p.id = {static_cast<ShardId>(rng() % 3), n};
      for (int i = 0; i < kAccounts; ++i)
        p.parts[shard[i]].commands.push_back(cmd(Op::get, {names[i]}));
      p.parts[p.id.coordinator];  // the coordinator's shard takes part
      plans.push_back(p);
      amounts.push_back(0);
      is_read.push_back(true);
    } else {
      std::size_t a = rng() % kAccounts, b = rng() % kAccounts;
      while (shard[b] == shard[a]) b = rng() % kAccounts;
      int amount = 1 + static_cast<int>(rng() % 20);
      plans.push_back(transfer(n, shard[a], names[a], shard[b], names[b], amount));
      amounts.push_back(amount);
      is_read.push_back(false);
    }
    w.start(plans.back());
    w.run(40);
  }
  if (!w.settle()) return "did not settle: a transaction stayed in doubt or was never forgotten";
  if (w.changed_records() != 0) return "a replica recorded a second, different outcome";
  // Expected balances from the decisions alone.
  std::vector<long> expected(kAccounts, kStart);
  *committed = 0;
  for (std::size_t k = 0; k < plans.size(); ++k) {
    const TxnPlan& p = plans[k];
    std::optional<bool> d = w.decision(p.id.coordinator, p.id);
    for (const auto& [s, part] : p.parts) {
      for (std::size_t r = 0; r < 2; ++r) {
        std::optional<bool> got = w.outcome(s, p.id, r);
        if (d && got != d) return "shard " + std::to_string(s) + " disagrees with the decision";
      }
    }
    auto o = w.outcomes().find(p.id);
    if (o != w.outcomes().end() && o->second.kind != ClientOutcome::Kind::unknown &&
        d != (o->second.kind == ClientOutcome::Kind::committed))
      return "a client was told an outcome the log does not hold";
    if (d != true) continue;
    ++*committed;
    if (is_read[k]) {
      if (o == w.outcomes().end() || o->second.kind != ClientOutcome::Kind::committed) continue;
      long sum = 0;
      for (const auto& [s, replies] : o->second.results)
        for (const Reply& r : replies) sum += r.kind == Reply::Kind::bulk ? std::stol(r.str) : 0;
      if (sum != long{kAccounts} * kStart) return "a read saw a total that never existed";
      continue;
    }
    const Request& from = p.parts.begin()->second.commands[0];
    const Request& to = std::next(p.parts.begin())->second.commands[0];
    for (const Request* r : {&from, &to}) {
      for (int i = 0; i < kAccounts; ++i)
        if (names[i] == r->args[0]) expected[i] += (r->op == Op::incrby ? 1 : -1) * amounts[k];
    }
  }
  long total = 0;
  for (int i = 0; i < kAccounts; ++i) {
    for (std::size_t r = 0; r < 2; ++r) {
      long have = std::stol(*w.store(shard[i], r).find(names[i]));
      if (have != expected[i]) return names[i] + " holds a half-applied transaction";
    }
    total += expected[i];
  }
  if (total != long{kAccounts} * kStart) return "the total changed";
  for (ShardId s = 0; s < 3; ++s)
    if (w.participant(s).locks() != 0) return "a lock outlived its transaction";
  if (w.answered_twice() != 0) return "a client was answered twice";
  return "";
}

}  // namespace

TEST_CASE(
    "bank across 3 shards: totals kept, nothing half applied, under crashes and bad networks") {
  Faults faults{0.1, 0.1, 0.01};
  std::size_t committed_total = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    CAPTURE(seed);
    std::size_t committed = 0;
    CHECK(bank(seed, faults, false, &committed) == "");
    committed_total += committed;
  }
  // Contention (12 accounts, many transactions in flight), lost votes and
  // crashes abort most; enough commit to exercise both outcomes.
  CHECK(committed_total > 100);
  std::size_t committed = 0;
  CHECK(bank(99, Faults{}, false, &committed) == "");
  CHECK(committed > 20);
}

TEST_CASE("planted bug: a participant that applies before the decision is caught") {
  Faults faults{0.1, 0.1, 0.01};
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    std::size_t committed = 0;
    if (!bank(seed, faults, true, &committed).empty()) ++caught;
  }
  CHECK(caught >= 25);
}
