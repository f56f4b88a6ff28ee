// The WGL search's model of one key (internal to the linearizability
// checker): the register's values interned to small integers, each operation
// reduced to what the model needs, and the rule for when one can take effect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/rng.h"  // the splitmix64
#include "linearizability.h"

namespace synod::sim::wgl {

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
inline std::optional<Value> apply(const ModelOp& m, Value state) {
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
std::string why_not(const ModelOp& m, Value state, const std::optional<std::string>& holds);

// A value as the witness shows it: quoted and escaped, cut at 40 bytes;
// "absent" for nullopt.
std::string quote(const std::optional<std::string>& v);

inline std::uint64_t mix(std::uint64_t x) { return detail::splitmix64(x); }  // x is a copy

}  // namespace synod::sim::wgl
