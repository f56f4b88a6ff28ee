// What a slot holds: a batch of commands, a no-op, or a configuration.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "synod/types.h"

namespace synod {

enum class ValueKind : std::uint8_t {
  noop = 0,      // fills a hole found by a new leader; applies nothing
  commands = 1,  // a batch of opaque client commands, applied in order
  // A new membership (synod/membership.h), encoded as the one "command";
  // chosen at slot i, it governs slots from i + Config::alpha.
  config = 2,
};

// An immutable value, cheap to copy: copies share one batch, so the leader's
// log, its Accept to every peer and the Ready handed to the host all point at
// the same bytes.
class Value {
 public:
  Value() = default;  // a no-op

  static Value noop() { return Value{}; }
  static Value of_commands(std::vector<std::string> commands) {
    Value v;
    v.kind_ = ValueKind::commands;
    v.commands_ = std::make_shared<const std::vector<std::string>>(std::move(commands));
    return v;
  }

  // What storage and the wire rebuild: a kind and its commands (a config's
  // single command is its encoding).
  static Value of_kind(ValueKind kind, std::vector<std::string> commands) {
    if (kind == ValueKind::noop) return noop();
    Value v = of_commands(std::move(commands));
    v.kind_ = kind;
    return v;
  }

  ValueKind kind() const { return kind_; }
  bool is_config() const { return kind_ == ValueKind::config; }
  bool is_noop() const { return kind_ == ValueKind::noop; }
  // The commands of a batch, in apply order; empty for a no-op.
  const std::vector<std::string>& commands() const {
    static const std::vector<std::string> none;
    return commands_ ? *commands_ : none;
  }
  std::size_t byte_size() const {
    std::size_t n = 0;
    for (const auto& c : commands()) n += c.size();
    return n;
  }

  friend bool operator==(const Value& a, const Value& b) {
    if (a.kind_ != b.kind_) return false;
    if (a.commands_ == b.commands_) return true;
    return a.commands() == b.commands();
  }

 private:
  ValueKind kind_ = ValueKind::noop;
  std::shared_ptr<const std::vector<std::string>> commands_;
};

// One slot's accepted (or chosen) value with the ballot it was accepted in.
struct Entry {
  Slot slot{};
  Ballot ballot{};
  Value value{};
  friend bool operator==(const Entry&, const Entry&) = default;
};

}  // namespace synod
