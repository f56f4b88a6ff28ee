// Recording a history (History) and describing its operations (describe,
// quote): the half of linearizability.h the simulator calls while it runs.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "linearizability.h"
#include "wgl_model.h"

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

namespace wgl {

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

}  // namespace wgl

namespace {

using wgl::quote;

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

}  // namespace synod::sim
