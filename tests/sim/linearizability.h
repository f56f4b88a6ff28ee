// A linearizability checker for client histories of a key-value register
// map: Wing & Gong's search with Lowe's memoisation (the "WGL" algorithm of
// Lowe's "Testing for linearizability", 2017, as used by Knossos and
// Porcupine). A register map is P-compositional, so the history is split by
// key and every key is checked on its own: the cost is exponential only in
// how many operations on one key overlap, not in the length of the history.
//
// Recording a history from the simulator (one History per run):
//   - invoke_*() when the client sends the request, with the current step;
//     keep the returned id with the request;
//   - *_returned() when the client receives the acknowledgement, with the
//     step it arrived at and the result it carries;
//   - unknown() when the client gives up (timeout, its node crashed, an
//     "unknown" outcome). An operation left open is unknown too, so forgetting
//     to call it is harmless. A reply that still arrives later may close the
//     operation: a late answer is as true as a timely one;
//   - failed() when the client learns that it certainly took no effect (say,
//     refused before it was proposed): the checker leaves it out. A retry is
//     a new operation, invoked when it is sent.
// Then check_linearizable(history.ops()).
//
// Unknown operations are handled the standard way. An unknown read carries no
// information and is dropped. An unknown write (or compare-and-set) may have
// taken effect at any moment after its call, or never: the checker may place
// it anywhere after its call or leave it out. The checker accepts them; the
// caller decides whether too many unknowns make a run worthless
// (LinResult::unknown_ops, History::unknown_count()).
//
// Times are integers (simulator steps). An operation returning at step t and
// one called at the same step t are taken to overlap: whether the call or the
// reply happened first within one step is not recorded, and assuming an
// order could fail a correct history.
//
// There is no increment: nothing in the simulator issues one. An increment
// whose result r is known can be recorded as a compare-and-set from r - delta
// to r, on a key written before.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace synod::sim {

// The return time of an operation that never returned.
inline constexpr std::uint64_t kNeverReturned = std::numeric_limits<std::uint64_t>::max();

struct LinOp {
  enum class Kind : std::uint8_t { read, write, cas };

  std::uint64_t client = 0;
  std::string key;
  Kind kind = Kind::read;
  // write: the value written (nullopt would be a delete); cas: the value
  // stored if it swaps; read: the value seen, nullopt when the key was absent
  // (nothing written yet).
  std::optional<std::string> value;
  // cas only: the value it compares against, nullopt for "absent".
  std::optional<std::string> expected;
  bool swapped = false;  // cas only, when known: whether it stored
  std::uint64_t call = 0;
  std::uint64_t ret = kNeverReturned;
  bool unknown = true;  // the client never heard the result
  bool failed = false;  // certainly took no effect: left out of the check
};

// Builds a history as the simulator runs; ids index ops().
class History {
 public:
  std::size_t invoke_read(std::uint64_t client, std::string key, std::uint64_t now);
  std::size_t invoke_write(std::uint64_t client, std::string key, std::string value,
                           std::uint64_t now);
  std::size_t invoke_cas(std::uint64_t client, std::string key, std::optional<std::string> expected,
                         std::string desired, std::uint64_t now);

  // seen: nullopt when the key was absent.
  void read_returned(std::size_t id, std::uint64_t now, std::optional<std::string> seen);
  void write_returned(std::size_t id, std::uint64_t now);
  void cas_returned(std::size_t id, std::uint64_t now, bool swapped);
  // The client gave up; the operation stays unknown unless a reply still comes.
  void unknown(std::size_t id);
  // The operation certainly took no effect.
  void failed(std::size_t id);

  const std::vector<LinOp>& ops() const { return ops_; }
  std::size_t unknown_count() const;

 private:
  std::size_t invoke(std::uint64_t client, std::string key, LinOp::Kind kind, std::uint64_t now);
  LinOp& settle(std::size_t id, LinOp::Kind kind, std::uint64_t now);

  std::vector<LinOp> ops_;
};

struct LinResult {
  bool ok = true;  // no key was shown non-linearizable (see timed_out)
  // The first key (in key order) that is not linearizable, and why: the
  // longest linearization the search found, the register's value after it,
  // and the operations that were pending when the search got stuck, each
  // with the reason it cannot go next.
  std::string key;
  std::string explanation;
  // Operations searched: unknown reads are dropped, and so are unknown writes
  // of values nothing observed (on keys where every compare-and-set swapped).
  std::size_t ops_checked = 0;
  std::size_t unknown_ops = 0;  // operations in the input whose result is unknown
  // Search steps over all keys checked: a step tries one operation or
  // undoes one choice.
  std::size_t steps = 0;
  // Some key ran out of search budget: ok stays true, but it proves nothing
  // for that key. timed_out_keys names them.
  bool timed_out = false;
  std::vector<std::string> timed_out_keys;
};

// The search budget per key: far above what simulator histories need (a
// linearizable history takes one to a few steps per operation), low enough
// that a pathological key gives up within about a second.
inline constexpr std::size_t kDefaultStepsPerKey = 2'000'000;

// Checks every key; stops at the first key that fails. Throws
// std::invalid_argument for an operation that returns before its call.
LinResult check_linearizable(const std::vector<LinOp>& history,
                             std::size_t max_steps_per_key = kDefaultStepsPerKey);

// One operation, readable: `client 3 read() -> "a" [10, 14]`.
std::string describe(const LinOp& op);

}  // namespace synod::sim
