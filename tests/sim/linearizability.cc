// check_linearizable (linearizability.h): splits a history by key, compiles
// each key's operations into the model, runs the WGL search (wgl_search.h)
// and explains a failure.
#include "linearizability.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string_view>

#include "wgl_search.h"

namespace synod::sim {

namespace {

using namespace wgl;

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
