#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "linearizability.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

using namespace synod::sim;

namespace {

LinOp settled(std::uint64_t client, std::string key, LinOp::Kind kind,
              std::optional<std::string> value, std::uint64_t call, std::uint64_t ret) {
  LinOp op;
  op.client = client;
  op.key = std::move(key);
  op.kind = kind;
  op.value = std::move(value);
  op.call = call;
  op.ret = ret;
  op.unknown = false;
  return op;
}

// Hand-written histories: one line per operation, times in simulator steps.
struct Ops {
  std::vector<LinOp> ops;

  Ops& write(std::uint64_t client, std::string key, std::string v, std::uint64_t call,
             std::uint64_t ret) {
    return add(settled(client, std::move(key), LinOp::Kind::write, std::move(v), call, ret));
  }
  Ops& read(std::uint64_t client, std::string key, std::optional<std::string> seen,
            std::uint64_t call, std::uint64_t ret) {
    return add(settled(client, std::move(key), LinOp::Kind::read, std::move(seen), call, ret));
  }
  Ops& cas(std::uint64_t client, std::string key, std::optional<std::string> expected,
           std::string desired, bool swapped, std::uint64_t call, std::uint64_t ret) {
    LinOp op = settled(client, std::move(key), LinOp::Kind::cas, std::move(desired), call, ret);
    op.expected = std::move(expected);
    op.swapped = swapped;
    return add(std::move(op));
  }
  // value: what a write would store, or what a read would have seen.
  Ops& unknown(LinOp::Kind kind, std::uint64_t client, std::string key, std::string value,
               std::uint64_t call) {
    LinOp op = settled(client, std::move(key), kind, std::move(value), call, kNeverReturned);
    op.unknown = true;
    return add(std::move(op));
  }
  Ops& unknown_write(std::uint64_t client, std::string key, std::string v, std::uint64_t call) {
    return unknown(LinOp::Kind::write, client, std::move(key), std::move(v), call);
  }
  Ops& add(LinOp op) {
    ops.push_back(std::move(op));
    return *this;
  }
  LinResult check() const { return check_linearizable(ops); }
};

}  // namespace

TEST_CASE("sequential histories are linearizable") {
  Ops h;
  h.read(1, "x", std::nullopt, 0, 1)
      .write(1, "x", "a", 2, 3)
      .read(2, "x", "a", 4, 5)
      .write(2, "x", "b", 6, 7)
      .read(1, "x", "b", 8, 9)
      .cas(1, "x", "b", "c", true, 10, 11)
      .cas(2, "x", "b", "d", false, 12, 13)
      .read(2, "x", "c", 14, 15);
  LinResult r = h.check();
  CHECK(r.ok);
  CHECK_FALSE(r.timed_out);
  CHECK(r.ops_checked == 8);
  CHECK(r.unknown_ops == 0);
  CHECK(check_linearizable({}).ok);
}

TEST_CASE("overlapping writes may take effect in either order") {
  // a and b overlap; the reads overlapping them may see either, and once a
  // read has seen the later one every later read must too.
  for (const char* last : {"a", "b"}) {
    std::string first = std::string(last) == "a" ? "b" : "a";
    Ops h;
    h.write(1, "x", "a", 0, 10)
        .write(2, "x", "b", 0, 10)
        .read(3, "x", std::nullopt, 1, 2)
        .read(3, "x", first, 3, 4)
        .read(4, "x", last, 5, 12)
        .read(3, "x", last, 11, 13);
    CAPTURE(last);
    CHECK(h.check().ok);
  }
}

TEST_CASE("a call and a return at the same step overlap") {
  Ops h;
  h.write(1, "x", "a", 0, 5).read(2, "x", std::nullopt, 5, 6);
  CHECK(h.check().ok);
}

TEST_CASE("a stale read after a completed write fails") {
  Ops h;
  h.write(1, "x", "a", 0, 1).write(1, "x", "b", 2, 3).read(2, "x", "a", 4, 5);
  LinResult r = h.check();
  CHECK_FALSE(r.ok);
  CHECK(r.key == "x");
  CHECK(r.explanation.find("read(\"x\") -> \"a\" [4, 5]: it saw \"a\", but the key holds \"b\"") !=
        std::string::npos);
}

TEST_CASE("a read of a value never written fails") {
  Ops h;
  h.write(1, "x", "a", 0, 10).read(2, "x", "z", 1, 9);
  CHECK_FALSE(h.check().ok);
  Ops absent;
  absent.write(1, "x", "a", 0, 1).read(2, "x", std::nullopt, 2, 3);
  CHECK_FALSE(absent.check().ok);
}

TEST_CASE("a read of the old value after a read of the new one fails (new-old inversion)") {
  Ops h;
  h.write(1, "x", "0", 0, 1)
      .write(1, "x", "1", 2, 20)  // still in flight for both reads
      .read(2, "x", "1", 3, 4)
      .read(3, "x", "0", 5, 6);
  CHECK_FALSE(h.check().ok);
}

TEST_CASE("two clients that see two writes in opposite orders fail") {
  Ops h;
  h.write(1, "x", "a", 0, 10)
      .write(2, "x", "b", 0, 10)
      .read(3, "x", "a", 1, 2)
      .read(3, "x", "b", 3, 4)
      .read(4, "x", "b", 1, 2)
      .read(4, "x", "a", 3, 4);
  CHECK_FALSE(h.check().ok);
}

TEST_CASE("compare-and-set succeeds only on the value it expected") {
  Ops ok;
  ok.cas(1, "x", std::nullopt, "a", true, 0, 1).cas(2, "x", std::nullopt, "b", false, 2, 3);
  CHECK(ok.check().ok);
  Ops wrong_swap;
  wrong_swap.write(1, "x", "a", 0, 1).cas(2, "x", "b", "c", true, 2, 3);
  CHECK_FALSE(wrong_swap.check().ok);
  Ops wrong_keep;
  wrong_keep.write(1, "x", "a", 0, 1).cas(2, "x", "a", "c", false, 2, 3);
  CHECK_FALSE(wrong_keep.check().ok);
}

TEST_CASE("an unknown write may take effect, late, or never") {
  Ops seen;  // a later read proves it happened
  seen.write(1, "x", "a", 0, 1).unknown_write(2, "x", "b", 2).read(3, "x", "b", 100, 101);
  CHECK(seen.check().ok);
  CHECK(seen.check().unknown_ops == 1);

  Ops never;  // nothing ever saw it
  never.write(1, "x", "a", 0, 1).unknown_write(2, "x", "b", 2).read(3, "x", "a", 100, 101);
  CHECK(never.check().ok);

  Ops before_call;  // but not before it was called
  before_call.write(1, "x", "a", 0, 1).read(3, "x", "b", 2, 3).unknown_write(2, "x", "b", 4);
  CHECK_FALSE(before_call.check().ok);

  Ops kept;  // only its taking effect explains a compare-and-set that kept its value
  kept.write(1, "x", "a", 0, 1).unknown_write(2, "x", "b", 2).cas(3, "x", "a", "c", false, 3, 4);
  CHECK(kept.check().ok);
}

TEST_CASE("an unknown write seen and then unseen fails") {
  Ops h;
  h.write(1, "x", "a", 0, 1)
      .unknown_write(2, "x", "b", 2)
      .read(3, "x", "b", 3, 4)
      .read(3, "x", "a", 5, 6);
  CHECK_FALSE(h.check().ok);
}

TEST_CASE("an unknown read tells nothing and is dropped") {
  Ops h;
  h.write(1, "x", "a", 0, 1).unknown(LinOp::Kind::read, 2, "x", "never written", 2);
  LinResult r = h.check();
  CHECK(r.ok);
  CHECK(r.ops_checked == 1);
  CHECK(r.unknown_ops == 1);
}

TEST_CASE("keys are checked independently") {
  // As one register this fails; as two it is fine.
  Ops h;
  h.write(1, "x", "a", 0, 1)
      .write(2, "y", "b", 2, 3)
      .read(1, "x", "a", 4, 5)
      .read(2, "y", "b", 6, 7);
  CHECK(h.check().ok);

  // A failure names its key, whatever the other keys do.
  h.read(3, "y", "a", 8, 9).read(3, "z", std::nullopt, 8, 9);
  LinResult r = h.check();
  CHECK_FALSE(r.ok);
  CHECK(r.key == "y");
  CHECK(r.explanation.find("key \"y\" is not linearizable") != std::string::npos);
}

TEST_CASE("a search over budget gives up without a verdict") {
  Ops h;
  for (std::uint64_t i = 0; i < 8; ++i) h.write(i, "x", std::to_string(i), 0, 100);
  h.read(9, "x", "0", 101, 102);
  LinResult r = check_linearizable(h.ops, 3);
  CHECK(r.ok);
  CHECK(r.timed_out);
  CHECK(r.timed_out_keys == std::vector<std::string>{"x"});
  CHECK(r.explanation.empty());
  CHECK(h.check().ok);
  CHECK_FALSE(h.check().timed_out);
}

TEST_CASE("a history records calls, results and operations left unknown") {
  History h;
  std::size_t w = h.invoke_write(1, "x", "a", 0);
  std::size_t r = h.invoke_read(2, "x", 1);
  std::size_t c = h.invoke_cas(3, "x", "a", "b", 2);
  std::size_t lost = h.invoke_write(4, "x", "z", 3);
  std::size_t open = h.invoke_read(5, "x", 3);
  std::size_t refused = h.invoke_write(6, "x", "never applied", 3);
  h.write_returned(w, 4);
  h.failed(refused);
  h.read_returned(r, 5, "a");
  h.unknown(lost);
  h.cas_returned(c, 6, true);
  CHECK(h.unknown_count() == 2);
  CHECK(h.ops()[open].unknown);
  CHECK_THROWS_AS(h.write_returned(w, 7), std::logic_error);
  CHECK_THROWS_AS(h.write_returned(refused, 7), std::logic_error);
  CHECK_THROWS_AS(h.failed(w), std::logic_error);
  CHECK_THROWS_AS(h.write_returned(open, 7), std::logic_error);  // wrong kind
  LinResult res = check_linearizable(h.ops());
  CHECK(res.ok);
  CHECK(res.unknown_ops == 2);
  CHECK(res.ops_checked == 3);  // the lost write of "z" nobody saw is dropped

  CHECK_THROWS_AS(h.read_returned(open, 2, "a"), std::logic_error);  // called at 3
}

TEST_CASE("an operation that certainly failed is left out") {
  History h;
  h.write_returned(h.invoke_write(1, "x", "a", 0), 1);
  std::size_t refused = h.invoke_write(2, "x", "b", 2);
  h.failed(refused);
  h.read_returned(h.invoke_read(3, "x", 3), 4, "b");
  CHECK(describe(h.ops()[refused]) == "client 2 write(\"x\", \"b\") [2, failed]");
  LinResult r = check_linearizable(h.ops());
  CHECK_FALSE(r.ok);  // had it been unknown, the read could have seen it
  CHECK(r.unknown_ops == 0);
}

TEST_CASE("an operation returning before its call is rejected") {
  Ops h;
  h.write(1, "x", "a", 5, 4);
  CHECK_THROWS_AS(h.check(), std::invalid_argument);
}

TEST_CASE("the witness shows the linearization found and what could not follow") {
  Ops h;
  h.write(1, "x", "a", 0, 1).write(1, "x", "b", 2, 3).read(2, "x", "a", 4, 5);
  std::string e = h.check().explanation;
  CHECK(e.find("has 2 operations; in order:\n"
               "  client 1 write(\"x\", \"a\") [0, 1]\n"
               "  client 1 write(\"x\", \"b\") [2, 3]\n"
               "after which the key holds \"b\"") != std::string::npos);
}

// ---- Random histories ------------------------------------------------------

namespace {

// All orders, by brute force, for histories of a few operations of one key:
// the definition the search must agree with.
bool brute_force(const std::vector<LinOp>& ops, std::uint32_t done, std::optional<std::string> v,
                 std::set<std::pair<std::uint32_t, std::optional<std::string>>>& dead) {
  bool all_known_done = true;
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (!(done >> i & 1) && !ops[i].unknown) all_known_done = false;
  if (all_known_done) return true;
  if (dead.count({done, v})) return false;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (done >> i & 1) continue;
    const LinOp& op = ops[i];
    bool blocked = false;  // something not yet done returned before i was called
    for (std::size_t j = 0; j < ops.size(); ++j)
      if (!(done >> j & 1) && !ops[j].unknown && ops[j].ret < op.call) blocked = true;
    if (blocked) continue;
    std::optional<std::string> after = v;
    switch (op.kind) {
      case LinOp::Kind::read:
        if (op.value != v) continue;
        break;
      case LinOp::Kind::write:
        after = op.value;
        break;
      case LinOp::Kind::cas:
        if (!op.unknown && op.swapped != (v == op.expected)) continue;
        if (v == op.expected) after = op.value;
        break;
    }
    if (brute_force(ops, done | 1u << i, after, dead)) return true;
  }
  dead.insert({done, v});
  return false;
}

// "k3", "v17": built by append, as GCC 12 warns falsely (-Wrestrict) about
// assigning a literal, or adding one to a string, here.
std::string numbered(char prefix, std::uint64_t n) {
  std::string s(1, prefix);
  return s.append(std::to_string(n));
}

std::vector<LinOp> random_small_history(std::mt19937_64& rng) {
  auto pick = [&](std::uint64_t n) { return rng() % n; };
  auto value = [&]() -> std::optional<std::string> {
    std::uint64_t k = pick(4);
    if (k == 0) return std::nullopt;
    return std::string(1, static_cast<char>('a' + k - 1));
  };
  std::vector<LinOp> ops(1 + pick(7));
  for (std::size_t i = 0; i < ops.size(); ++i) {
    LinOp& op = ops[i];
    op.client = i;
    op.key = numbered('k', 0);
    std::uint64_t kind = pick(5);  // as many reads as writes, and some compare-and-sets
    op.kind = kind < 2 ? LinOp::Kind::read : kind < 4 ? LinOp::Kind::write : LinOp::Kind::cas;
    op.call = pick(12);
    op.ret = op.call + pick(6);
    op.value = value();
    if (op.kind != LinOp::Kind::read && !op.value) op.value = "a";
    op.expected = value();
    op.swapped = pick(2) == 0;
    op.unknown = op.kind != LinOp::Kind::read && pick(5) == 0;
    if (op.unknown) op.ret = kNeverReturned;
  }
  return ops;
}

// The shape of a random history. The search is exponential in the unknown
// writes pending at once on a key that cannot drop them (one with
// compare-and-sets that keep their value), so the shapes that mix both
// spread them over many keys, as a simulator run would.
struct Shape {
  std::size_t ops;
  std::size_t keys;
  bool cas;
  bool unknowns;
};

// A linearizable history: a sequential execution, one operation every 10
// steps, each stretched into a random window of up to 80 steps around its
// moment (so about 8 overlap). Unknown writes and compare-and-sets took
// effect or not, at random.
std::vector<LinOp> random_linearizable_history(std::mt19937_64& rng, Shape shape) {
  constexpr std::uint64_t kStretch = 40;
  auto pick = [&](std::uint64_t m) { return rng() % m; };
  std::map<std::string, std::optional<std::string>> state;
  std::vector<LinOp> ops;
  for (std::size_t i = 0; i < shape.ops; ++i) {
    LinOp op;
    op.client = pick(8);
    op.key = numbered('k', pick(shape.keys));
    std::uint64_t moment = 10 * (i + 1) + kStretch;
    op.call = moment - pick(kStretch + 1);
    op.ret = moment + pick(kStretch + 1);
    op.unknown = false;
    std::optional<std::string>& v = state[op.key];
    std::uint64_t kind = pick(shape.cas ? 4 : 3);
    op.kind = kind < 2 ? LinOp::Kind::read : kind < 3 ? LinOp::Kind::write : LinOp::Kind::cas;
    if (op.kind == LinOp::Kind::read) {
      op.value = v;
      ops.push_back(std::move(op));
      continue;
    }
    op.value = numbered('v', i);
    if (op.kind == LinOp::Kind::cas) {
      op.expected = pick(2) == 0 ? v : std::optional<std::string>(numbered('v', pick(i + 1)));
      op.swapped = op.expected == v;
    }
    bool takes_effect = op.kind == LinOp::Kind::write || op.swapped;
    if (shape.unknowns && pick(8) == 0) {
      op.unknown = true;
      op.ret = kNeverReturned;
      if (pick(2) == 0) takes_effect = false;  // lost before it was applied
    }
    if (takes_effect) v = op.value;
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace

TEST_CASE("the search agrees with brute force on small random histories") {
  std::size_t yes = 0, no = 0;
  for (std::uint64_t seed = 1; seed <= 3000; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<LinOp> ops = random_small_history(rng);
    std::set<std::pair<std::uint32_t, std::optional<std::string>>> dead;
    bool expected = brute_force(ops, 0, std::nullopt, dead);
    LinResult r = check_linearizable(ops);
    CAPTURE(seed);
    REQUIRE(r.ok == expected);
    REQUIRE_FALSE(r.timed_out);
    (expected ? yes : no)++;
  }
  CHECK(yes > 300);  // both verdicts well exercised
  CHECK(no > 300);
}

TEST_CASE("random linearizable histories pass, and fail once a read is made impossible") {
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 rng(seed);
    constexpr Shape kShapes[] = {
        {400, 1, false, true},  // one busy register; some writes lost, some not
        {400, 1, true, false},  // one register with compare-and-sets
        {400, 3, true, false},  // a few
        {400, 4, false, true},  // a few, with unknown writes
        {400, 20, true, true},  // everything, over many keys
    };
    Shape shape = kShapes[seed % std::size(kShapes)];
    std::vector<LinOp> ops = random_linearizable_history(rng, shape);
    CAPTURE(seed);
    CAPTURE(shape.keys);
    LinResult r = check_linearizable(ops);
    REQUIRE(r.ok);
    REQUIRE_FALSE(r.timed_out);

    std::vector<std::size_t> reads;
    for (std::size_t i = 0; i < ops.size(); ++i)
      if (ops[i].kind == LinOp::Kind::read) reads.push_back(i);
    REQUIRE(!reads.empty());

    // A value nobody wrote.
    std::size_t victim = reads[rng() % reads.size()];
    std::vector<LinOp> never = ops;
    never[victim].value = "never written";
    LinResult bad = check_linearizable(never);
    CHECK_FALSE(bad.ok);
    CHECK(bad.key == ops[victim].key);

    // A value written only after the read returned (every value is written
    // once), when there is one.
    for (std::size_t w = victim + 1; w < ops.size(); ++w) {
      if (ops[w].kind == LinOp::Kind::read || ops[w].key != ops[victim].key) continue;
      if (ops[w].call <= ops[victim].ret) continue;
      std::vector<LinOp> future = ops;
      future[victim].value = ops[w].value;
      LinResult fut = check_linearizable(future);
      CHECK_FALSE(fut.ok);
      CHECK(fut.key == ops[victim].key);
      break;
    }
  }
}
