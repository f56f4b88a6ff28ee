#include "linearizability.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <map>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/rng.h"  // the splitmix64

namespace synod::sim {

// ---- Recording -------------------------------------------------------------

std::size_t History::invoke(std::uint64_t client, std::string key, LinOp::Kind kind,
                            std::uint64_t now) {
  LinOp op;
  op.client = client;
  op.key = std::move(key);
  op.kind = kind;
  op.call = now;
  ops_.push_back(std::move(op));
  return ops_.size() - 1;
}

std::size_t History::invoke_read(std::uint64_t client, std::string key, std::uint64_t now) {
  return invoke(client, std::move(key), LinOp::Kind::read, now);
}

std::size_t History::invoke_write(std::uint64_t client, std::string key, std::string value,
                                  std::uint64_t now) {
  std::size_t id = invoke(client, std::move(key), LinOp::Kind::write, now);
  ops_[id].value = std::move(value);
  return id;
}

std::size_t History::invoke_cas(std::uint64_t client, std::string key,
                                std::optional<std::string> expected, std::string desired,
                                std::uint64_t now) {
  std::size_t id = invoke(client, std::move(key), LinOp::Kind::cas, now);
  ops_[id].expected = std::move(expected);
  ops_[id].value = std::move(desired);
  return id;
}

LinOp& History::settle(std::size_t id, LinOp::Kind kind, std::uint64_t now) {
  LinOp& op = ops_.at(id);
  if (op.kind != kind) throw std::logic_error("history: a result of the wrong kind");
  if (!op.unknown) throw std::logic_error("history: an operation settled twice");
  if (now < op.call) throw std::logic_error("history: an operation returned before its call");
  op.unknown = false;
  op.ret = now;
  return op;
}

void History::read_returned(std::size_t id, std::uint64_t now, std::optional<std::string> seen) {
  settle(id, LinOp::Kind::read, now).value = std::move(seen);
}

void History::write_returned(std::size_t id, std::uint64_t now) {
  settle(id, LinOp::Kind::write, now);
}

void History::cas_returned(std::size_t id, std::uint64_t now, bool swapped) {
  settle(id, LinOp::Kind::cas, now).swapped = swapped;
}

void History::unknown(std::size_t id) {
  if (!ops_.at(id).unknown) throw std::logic_error("history: a settled operation made unknown");
}

void History::failed(std::size_t id) {
  LinOp& op = ops_.at(id);
  if (!op.unknown) throw std::logic_error("history: a settled operation failed");
  op.unknown = false;
  op.failed = true;
}

std::size_t History::unknown_count() const {
  return static_cast<std::size_t>(
      std::count_if(ops_.begin(), ops_.end(), [](const LinOp& op) { return op.unknown; }));
}

// ---- Describing ------------------------------------------------------------

namespace {

std::string quote(const std::optional<std::string>& v) {
  if (!v) return "absent";
  constexpr std::size_t kShown = 40;
  std::string out = "\"";
  for (std::size_t i = 0; i < v->size() && i < kShown; ++i) {
    auto c = static_cast<unsigned char>((*v)[i]);
    if (c == '"' || c == '\\')
      out += fmt::format("\\{}", static_cast<char>(c));
    else if (c < 0x20 || c >= 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (v->size() > kShown) out += "...";
  return out + "\"";
}

std::string window(const LinOp& op) {
  if (op.failed) return fmt::format("[{}, failed]", op.call);
  if (op.unknown) return fmt::format("[{}, ?]", op.call);
  return fmt::format("[{}, {}]", op.call, op.ret);
}

}  // namespace

std::string describe(const LinOp& op) {
  std::string key = quote(op.key);
  switch (op.kind) {
    case LinOp::Kind::read:
      return fmt::format("client {} read({}) -> {} {}", op.client, key,
                         op.unknown ? "?" : quote(op.value), window(op));
    case LinOp::Kind::write:
      return fmt::format("client {} write({}, {}) {}", op.client, key, quote(op.value), window(op));
    case LinOp::Kind::cas:
      return fmt::format("client {} cas({}, {} -> {}) -> {} {}", op.client, key, quote(op.expected),
                         quote(op.value), op.unknown ? "?" : (op.swapped ? "swapped" : "kept"),
                         window(op));
  }
  return {};
}

// ---- Checking one key ------------------------------------------------------

namespace {

// The register's values are interned per key; 0 is "absent".
using Value = std::uint32_t;
constexpr Value kAbsent = 0;

class Interner {
 public:
  Value id(const std::optional<std::string>& v) {
    if (!v) return kAbsent;
    auto [it, fresh] = ids_.try_emplace(*v, static_cast<Value>(ids_.size() + 1));
    return it->second;
  }

 private:
  std::unordered_map<std::string_view, Value> ids_;  // views into the history
};

// One operation of the key, reduced to what the model needs.
struct ModelOp {
  const LinOp* op;
  Value operand;  // read: the value seen; cas: the value compared against
  Value stored;   // write, cas: the value stored
};

// The register's value after op takes effect in state, or nullopt if it
// cannot take effect there (its result says otherwise).
std::optional<Value> apply(const ModelOp& m, Value state) {
  switch (m.op->kind) {
    case LinOp::Kind::read:
      if (state != m.operand) return std::nullopt;
      return state;
    case LinOp::Kind::write:
      return m.stored;
    case LinOp::Kind::cas: {
      bool matches = state == m.operand;
      if (!m.op->unknown && m.op->swapped != matches) return std::nullopt;
      return matches ? m.stored : state;
    }
  }
  return std::nullopt;
}

// Why m cannot go next in state (for the witness).
std::string why_not(const ModelOp& m, Value state, const std::optional<std::string>& holds) {
  if (apply(m, state)) return "legal here, but every order that starts with it fails later";
  if (m.op->kind == LinOp::Kind::read)
    return fmt::format("it saw {}, but the key holds {}", quote(m.op->value), quote(holds));
  if (m.op->swapped)
    return fmt::format("it swapped, but the key holds {}, not {}", quote(holds),
                       quote(m.op->expected));
  return fmt::format("it kept the value, but the key holds {}, which it expected", quote(holds));
}

std::uint64_t mix(std::uint64_t x) { return detail::splitmix64(x); }  // x is a copy

// Lowe's cache: every (set of linearized operations, register value) the
// search has entered. Entering one again can only repeat a failure. Bitsets
// live in one arena; the hash of a set is the XOR of a random word per member,
// kept up to date by the search, so a lookup costs no pass over the bitset
// unless hashes collide.
class SeenConfigurations {
 public:
  explicit SeenConfigurations(std::size_t words) : words_(words), slots_(1024, 0) {}

  static constexpr std::uint64_t kStateSalt = std::uint64_t{1} << 63;

  // Remembers (bits, state); false if it was already there.
  bool insert(const std::vector<std::uint64_t>& bits, std::uint64_t bits_hash, Value state) {
    if (2 * (states_.size() + 1) > slots_.size()) grow();
    std::uint64_t h = bits_hash ^ mix(kStateSalt | state);  // apart from the ops' words
    std::size_t mask = slots_.size() - 1;
    for (std::size_t s = h & mask;; s = (s + 1) & mask) {
      std::uint32_t e = slots_[s];
      if (e == 0) {
        slots_[s] = static_cast<std::uint32_t>(states_.size() + 1);
        hashes_.push_back(h);
        states_.push_back(state);
        arena_.insert(arena_.end(), bits.begin(), bits.end());
        return true;
      }
      if (hashes_[e - 1] == h && states_[e - 1] == state &&
          std::equal(bits.begin(), bits.end(), arena_.begin() + (e - 1) * words_))
        return false;
    }
  }

  std::size_t bytes() const { return arena_.size() * 8 + states_.size() * 12 + slots_.size() * 4; }

 private:
  void grow() {
    std::vector<std::uint32_t> bigger(slots_.size() * 2, 0);
    std::size_t mask = bigger.size() - 1;
    for (std::uint32_t e = 1; e <= states_.size(); ++e) {
      std::size_t s = hashes_[e - 1] & mask;
      while (bigger[s] != 0) s = (s + 1) & mask;
      bigger[s] = e;
    }
    slots_ = std::move(bigger);
  }

  std::size_t words_;
  std::vector<std::uint32_t> slots_;  // entry + 1, 0 when free
  std::vector<std::uint64_t> hashes_;
  std::vector<Value> states_;
  std::vector<std::uint64_t> arena_;  // words_ per entry
};

// The configurations the search left because nothing worked from them, for
// keys with unknown operations. One with the same known operations
// linearized, the same value, and more unknown ones linearized fails too:
// whatever order works from it works from the failed one, the extra unknown
// operations simply never taking effect. Without this, every unknown write
// pending would double the configurations to search.
class FailedConfigurations {
 public:
  explicit FailedConfigurations(std::vector<std::uint64_t> known_mask)
      : known_(std::move(known_mask)) {}

  void add(const std::vector<std::uint64_t>& bits, std::uint64_t known_hash, Value state) {
    groups_[group(known_hash, state)].push_back(static_cast<std::uint32_t>(states_.size()));
    states_.push_back(state);
    arena_.insert(arena_.end(), bits.begin(), bits.end());
  }

  // Whether a failed configuration has the known operations and value of
  // (bits, state) and a subset of its unknown ones.
  bool covers(const std::vector<std::uint64_t>& bits, std::uint64_t known_hash, Value state) const {
    auto it = groups_.find(group(known_hash, state));
    if (it == groups_.end()) return false;
    for (std::uint32_t e : it->second) {
      if (states_[e] != state) continue;
      const std::uint64_t* failed = arena_.data() + std::size_t{e} * known_.size();
      bool covered = true;
      for (std::size_t w = 0; w < known_.size() && covered; ++w)
        covered = (failed[w] & ~bits[w]) == 0 && (bits[w] & ~failed[w] & known_[w]) == 0;
      if (covered) return true;
    }
    return false;
  }

  std::size_t bytes() const { return arena_.size() * 8 + states_.size() * 16; }

 private:
  static std::uint64_t group(std::uint64_t known_hash, Value state) {
    return known_hash ^ mix(SeenConfigurations::kStateSalt | state);
  }

  std::vector<std::uint64_t> known_;  // the bits of the known operations
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> groups_;
  std::vector<Value> states_;
  std::vector<std::uint64_t> arena_;  // known_.size() words per entry
};

// A pathological key gives up rather than take the machine's memory.
constexpr std::size_t kMaxCacheBytes = std::size_t{512} << 20;

// Where the search got furthest: the witness of a failure.
struct Stuck {
  std::vector<std::size_t> prefix;   // linearized, in order (indices into ops)
  Value state = kAbsent;             // after the prefix
  std::size_t returning = 0;         // returned without taking effect
  std::vector<std::size_t> pending;  // called by then, none could go next
};

enum class Verdict { linearizable, not_linearizable, gave_up };

// Wing & Gong's depth-first search over a doubly linked list of call and
// return events, with Lowe's cache. An operation is linearized by unlinking
// its call and return; reaching the return of an operation not yet
// linearized means the current order is dead, so the search backtracks.
// Three refinements skip orders that can only succeed where an order the
// search does try would too:
//   - a read (or a compare-and-set that kept the value) that can take effect
//     is taken at once, alone (run());
//   - unknown operations are tried after the known ones, and only right
//     before something needs them (worth_taking());
//   - a configuration that only adds unknown operations to one that failed is
//     not entered (FailedConfigurations).
// Each was checked against a brute-force search: the test compares 3,000
// small histories; a million, with more unknown operations, were run once.
class KeySearch {
 public:
  explicit KeySearch(std::vector<ModelOp> ops)
      : ops_(std::move(ops)), n_(ops_.size()), seen_((n_ + 63) / 64), failed_(known_mask()) {
    build_list();
  }

  Verdict run(std::size_t max_steps);
  std::size_t steps() const { return steps_; }
  const Stuck& stuck() const { return stuck_; }
  const ModelOp& op(std::size_t i) const { return ops_[i]; }

 private:
  // Entry 0 is the head; operation i's call is 2i + 1, its return 2i + 2.
  static std::size_t call_of(std::size_t i) { return 2 * i + 1; }
  static std::size_t return_of(std::size_t i) { return 2 * i + 2; }
  static bool is_call(std::size_t e) { return e % 2 == 1; }
  static std::size_t op_of(std::size_t e) { return (e - 1) / 2; }
  static constexpr std::size_t kEnd = static_cast<std::size_t>(-1);

  void build_list();
  std::vector<std::uint64_t> known_mask() const;
  void unlink(std::size_t e) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != kEnd) prev_[next_[e]] = prev_[e];
  }
  void relink(std::size_t e) {
    next_[prev_[e]] = e;
    if (next_[e] != kEnd) prev_[next_[e]] = e;
  }
  void lift(std::size_t i) {
    unlink(call_of(i));
    unlink(return_of(i));
  }
  void unlift(std::size_t i) {  // the reverse of lift, in the reverse order
    relink(return_of(i));
    relink(call_of(i));
  }
  void flip(std::size_t i) {
    bits_[i / 64] ^= std::uint64_t{1} << (i % 64);
    bits_hash_ ^= mix(i);
    if (!ops_[i].op->unknown) known_hash_ ^= mix(i);
  }
  // Linearizes operation i, which leaves the value after, unless that
  // configuration was entered before; alone: no other choice needs trying.
  bool take(std::size_t i, Value after, bool alone);
  // Undoes linearizations back to the last choice that had alternatives:
  // the operation then taken, or nullopt when none is left (the key fails).
  std::optional<std::size_t> backtrack();
  // A known operation that leaves the value as it is (a read, a
  // compare-and-set that kept it) and can take effect now, or kEnd.
  std::size_t find_legal_observer() const;
  // Whether unknown operation u, leaving the value after, is worth taking now.
  bool worth_taking(std::size_t u, Value after) const;
  void note_stuck(std::size_t returning_entry);

  struct Frame {
    std::size_t op;
    Value before;
    bool alone;
  };

  std::vector<ModelOp> ops_;
  std::size_t n_;
  std::vector<std::size_t> prev_, next_;
  std::vector<std::uint64_t> bits_;
  std::uint64_t bits_hash_ = 0;
  std::uint64_t known_hash_ = 0;  // bits_hash_ over the known operations only
  bool has_unknown_ = false;
  SeenConfigurations seen_;
  FailedConfigurations failed_;
  std::vector<Frame> stack_;
  Value state_ = kAbsent;
  std::size_t known_left_ = 0;  // known operations not linearized
  std::size_t steps_ = 0;
  bool stuck_seen_ = false;
  Stuck stuck_;
};

void KeySearch::build_list() {
  // Calls before returns at one time (they overlap); the returns of unknown
  // operations last, where the search never reaches them.
  struct Event {
    std::uint64_t time;
    int rank;  // 0 call, 1 return, 2 unknown return
    std::size_t entry;
  };
  std::vector<Event> events;
  events.reserve(2 * n_);
  for (std::size_t i = 0; i < n_; ++i) {
    const LinOp& op = *ops_[i].op;
    events.push_back({op.call, 0, call_of(i)});
    if (op.unknown)
      events.push_back({kNeverReturned, 2, return_of(i)});
    else
      events.push_back({op.ret, 1, return_of(i)});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.entry < b.entry;
  });
  prev_.assign(2 * n_ + 1, 0);
  next_.assign(2 * n_ + 1, kEnd);
  std::size_t last = 0;
  for (const Event& ev : events) {
    next_[last] = ev.entry;
    prev_[ev.entry] = last;
    last = ev.entry;
  }
  bits_.assign((n_ + 63) / 64, 0);
}

std::vector<std::uint64_t> KeySearch::known_mask() const {
  std::vector<std::uint64_t> mask((n_ + 63) / 64, 0);
  for (std::size_t i = 0; i < n_; ++i)
    if (!ops_[i].op->unknown) mask[i / 64] |= std::uint64_t{1} << (i % 64);
  return mask;
}

void KeySearch::note_stuck(std::size_t returning_entry) {
  if (stuck_seen_ && stack_.size() <= stuck_.prefix.size()) return;
  stuck_seen_ = true;
  stuck_.prefix.clear();
  for (const Frame& f : stack_) stuck_.prefix.push_back(f.op);
  stuck_.state = state_;
  stuck_.returning = op_of(returning_entry);
  stuck_.pending.clear();
  for (std::size_t e = next_[0]; e != returning_entry; e = next_[e])
    if (is_call(e)) stuck_.pending.push_back(op_of(e));
}

bool KeySearch::take(std::size_t i, Value after, bool alone) {
  flip(i);
  if (!seen_.insert(bits_, bits_hash_, after) ||
      (has_unknown_ && failed_.covers(bits_, known_hash_, after))) {
    flip(i);
    return false;
  }
  stack_.push_back({i, state_, alone});
  state_ = after;
  if (!ops_[i].op->unknown) --known_left_;
  lift(i);
  return true;
}

std::optional<std::size_t> KeySearch::backtrack() {
  while (!stack_.empty()) {
    if (has_unknown_) failed_.add(bits_, known_hash_, state_);
    Frame f = stack_.back();
    stack_.pop_back();
    state_ = f.before;
    flip(f.op);
    if (!ops_[f.op].op->unknown) ++known_left_;
    unlift(f.op);
    if (!f.alone) return f.op;
  }
  return std::nullopt;
}

std::size_t KeySearch::find_legal_observer() const {
  for (std::size_t e = next_[0]; e != kEnd && is_call(e); e = next_[e]) {
    const ModelOp& m = ops_[op_of(e)];
    bool observes = m.op->kind == LinOp::Kind::read ||
                    (m.op->kind == LinOp::Kind::cas && !m.op->unknown && !m.op->swapped);
    if (observes && apply(m, state_)) return e;
  }
  return kEnd;
}

// Unknown operations can always move later (nothing has to follow them), and
// can be left out. So some order that works, if any does, takes an unknown
// operation only right before something that needs it: a known operation
// that cannot take effect before it and can after, or an unknown
// compare-and-set that expects the value it leaves (the pair then needed by a
// known one). Any other unknown operation taken here would be left out, or
// moved past what follows it.
bool KeySearch::worth_taking(std::size_t u, Value after) const {
  if (after == state_) return false;
  for (std::size_t e = next_[0]; e != kEnd && is_call(e); e = next_[e]) {
    const ModelOp& m = ops_[op_of(e)];
    if (m.op->unknown) {
      if (op_of(e) != u && m.op->kind == LinOp::Kind::cas && m.operand == after) return true;
    } else if (!apply(m, state_) && apply(m, after)) {
      return true;
    }
  }
  return false;
}

Verdict KeySearch::run(std::size_t max_steps) {
  // Unknown operations never have to take effect: once every known one has,
  // the unknown ones left can follow in any order (writes and compare-and-sets
  // whose result nobody saw are legal in every state).
  known_left_ = static_cast<std::size_t>(
      std::count_if(ops_.begin(), ops_.end(), [](const ModelOp& m) { return !m.op->unknown; }));
  has_unknown_ = known_left_ < n_;
  std::size_t e = next_[0];
  bool entered = true;  // a configuration not scanned yet
  // Each configuration is scanned for known operations to take first, then
  // for unknown ones: so the configurations without an unknown operation
  // fail first, and failed_ spares the search those with it.
  bool unknown_pass = false;
  auto resume_after = [&](std::optional<std::size_t> op) {
    if (!op) return false;
    e = next_[call_of(*op)];
    unknown_pass = ops_[*op].op->unknown;
    return true;
  };
  while (known_left_ > 0) {
    if (++steps_ > max_steps || seen_.bytes() + failed_.bytes() > kMaxCacheBytes)
      return Verdict::gave_up;
    if (std::exchange(entered, false)) {
      unknown_pass = false;
      // An operation that changes nothing and can take effect now may as well
      // go first: everything that had to precede it already has, and every
      // order that works without it first still works with it. So it is the
      // only choice tried here, which spares the search most of its branching.
      if (std::size_t o = find_legal_observer(); o != kEnd) {
        if (take(op_of(o), state_, true)) {
          e = next_[0];
          entered = true;
        } else if (!resume_after(backtrack())) {
          return Verdict::not_linearizable;
        }
        continue;
      }
    }
    assert(e != kEnd);  // a known operation's return is still ahead
    if (is_call(e)) {
      std::size_t i = op_of(e);
      if (ops_[i].op->unknown == unknown_pass) {
        std::optional<Value> after = apply(ops_[i], state_);
        if (after && (!unknown_pass || worth_taking(i, *after)) && take(i, *after, false)) {
          e = next_[0];
          entered = true;
          continue;
        }
      }
      e = next_[e];
      continue;
    }
    if (has_unknown_ && !unknown_pass) {
      unknown_pass = true;
      e = next_[0];
      continue;
    }
    note_stuck(e);
    if (!resume_after(backtrack())) return Verdict::not_linearizable;
  }
  return Verdict::linearizable;
}

// The key's operations as the search sees them, their values interned into
// names (id -> value). An unknown write of a value nothing observed (no read
// saw it, no compare-and-set expected it) is left out: had it taken effect,
// nothing could tell before the next write, so leaving it out is a
// linearization too; kept, it would double the search for every operation
// after its call. A compare-and-set that kept its value (or may have) would
// tell, so a key with one keeps every write.
std::vector<ModelOp> compile(const std::vector<const LinOp*>& ops,
                             std::vector<std::optional<std::string>>& names) {
  Interner interner;
  names.assign(1, std::nullopt);
  auto intern = [&](const std::optional<std::string>& v) {
    Value id = interner.id(v);
    if (id == names.size()) names.push_back(v);
    return id;
  };
  std::vector<ModelOp> model;
  model.reserve(ops.size());
  bool every_cas_swapped = true;
  for (const LinOp* op : ops) {
    ModelOp m{op, kAbsent, kAbsent};
    if (op->kind == LinOp::Kind::read) m.operand = intern(op->value);
    if (op->kind == LinOp::Kind::cas) m.operand = intern(op->expected);
    if (op->kind != LinOp::Kind::read) m.stored = intern(op->value);
    if (op->kind == LinOp::Kind::cas && (op->unknown || !op->swapped)) every_cas_swapped = false;
    model.push_back(m);
  }
  if (!every_cas_swapped) return model;
  std::vector<bool> observed(names.size(), false);
  for (const ModelOp& m : model)
    if (m.op->kind != LinOp::Kind::write) observed[m.operand] = true;
  std::erase_if(model, [&](const ModelOp& m) {
    return m.op->kind == LinOp::Kind::write && m.op->unknown && !observed[m.stored];
  });
  return model;
}

std::string explain(const KeySearch& search, std::string_view key,
                    const std::vector<std::optional<std::string>>& names) {
  const Stuck& s = search.stuck();
  constexpr std::size_t kPrefixShown = 6, kPendingShown = 12;
  const LinOp& returning = *search.op(s.returning).op;
  std::string out = fmt::format("key {} is not linearizable.\n", quote(std::string(key)));
  if (s.prefix.empty()) {
    out += "No operation can take effect first.\n";
  } else {
    std::size_t from = s.prefix.size() > kPrefixShown ? s.prefix.size() - kPrefixShown : 0;
    out += fmt::format("The longest linearization found has {} operations; {}:\n", s.prefix.size(),
                       from == 0 ? "in order" : fmt::format("its last {}", kPrefixShown));
    for (std::size_t k = from; k < s.prefix.size(); ++k)
      out += fmt::format("  {}\n", describe(*search.op(s.prefix[k]).op));
  }
  out +=
      fmt::format("after which the key holds {}. Then this must take effect before it returns:\n",
                  quote(names[s.state]));
  out += fmt::format("  {}\n", describe(returning));
  out += "but none of the operations called by then can go next:\n";
  // Known operations first: unknown writes called long ago pile up here.
  std::vector<std::size_t> pending = s.pending;
  std::stable_partition(pending.begin(), pending.end(),
                        [&](std::size_t i) { return !search.op(i).op->unknown; });
  for (std::size_t k = 0; k < pending.size() && k < kPendingShown; ++k) {
    const ModelOp& m = search.op(pending[k]);
    out += fmt::format("  {}: {}\n", describe(*m.op), why_not(m, s.state, names[s.state]));
  }
  if (s.pending.size() > kPendingShown)
    out += fmt::format("  ... and {} more\n", s.pending.size() - kPendingShown);
  return out;
}

}  // namespace

// ---- Checking a history ----------------------------------------------------

LinResult check_linearizable(const std::vector<LinOp>& history, std::size_t max_steps_per_key) {
  LinResult result;
  std::map<std::string_view, std::vector<const LinOp*>> by_key;
  for (const LinOp& op : history) {
    if (op.failed) continue;
    if (!op.unknown && op.ret < op.call)
      throw std::invalid_argument("linearizability: " + describe(op) + " returns before its call");
    if (op.unknown) ++result.unknown_ops;
    if (op.unknown && op.kind == LinOp::Kind::read) continue;  // tells nothing
    by_key[op.key].push_back(&op);
  }

  for (const auto& [key, ops] : by_key) {
    std::vector<std::optional<std::string>> names;
    std::vector<ModelOp> model = compile(ops, names);
    result.ops_checked += model.size();

    KeySearch search(std::move(model));
    Verdict verdict = search.run(max_steps_per_key);
    result.steps += search.steps();
    switch (verdict) {
      case Verdict::linearizable:
        break;
      case Verdict::gave_up:
        result.timed_out = true;
        result.timed_out_keys.emplace_back(key);
        break;
      case Verdict::not_linearizable:
        result.ok = false;
        result.key = std::string(key);
        result.explanation = explain(search, key, names);
        return result;
    }
  }
  return result;
}

}  // namespace synod::sim
