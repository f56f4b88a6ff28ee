#include "commands.h"

#include <fmt/format.h>

#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "core/planted_bugs.h"

namespace synod::script {

namespace {

std::uint64_t parse_number(std::string_view text, std::string_view what) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size())
    throw CommandError(fmt::format("{}: '{}' is not a number", what, text));
  return v;
}

// A command's arguments: words in order, and key=value options. Every option
// must be read, so a misspelt one fails instead of being ignored.
class Args {
 public:
  Args(std::string name, const std::vector<std::string>& tokens) : name_(std::move(name)) {
    for (const std::string& t : tokens) {
      auto eq = t.find('=');
      if (eq == std::string::npos)
        words_.push_back(t);
      else
        options_[t.substr(0, eq)] = t.substr(eq + 1);
    }
  }

  std::size_t words() const { return words_.size(); }
  const std::string& word(std::size_t i) const {
    if (i >= words_.size()) throw CommandError(fmt::format("{}: missing argument", name_));
    return words_[i];
  }
  std::uint64_t number(std::size_t i) const { return parse_number(word(i), name_); }
  NodeId node(std::size_t i) const { return NodeId{number(i)}; }
  // True when word i is "all"; "ID|all" arguments.
  bool all(std::size_t i) const { return word(i) == "all"; }
  // Whether the flag word f appears at position `from` or later.
  bool flag(std::size_t from, std::string_view f) {
    for (std::size_t i = from; i < words_.size(); ++i)
      if (words_[i] == f) {
        used_flags_.insert(i);
        return true;
      }
    return false;
  }
  std::uint64_t option(const std::string& key, std::uint64_t fallback) {
    auto it = options_.find(key);
    if (it == options_.end()) return fallback;
    std::uint64_t v = parse_number(it->second, name_ + " " + key);
    options_.erase(it);
    return v;
  }
  std::optional<std::string> text_option(const std::string& key) {
    auto it = options_.find(key);
    if (it == options_.end()) return std::nullopt;
    std::string v = it->second;
    options_.erase(it);
    return v;
  }
  // Fails on options nobody read and on words past the expected ones.
  void done(std::size_t fixed_words) const {
    if (!options_.empty())
      throw CommandError(fmt::format("{}: unknown option {}", name_, options_.begin()->first));
    for (std::size_t i = fixed_words; i < words_.size(); ++i)
      if (!used_flags_.contains(i))
        throw CommandError(fmt::format("{}: unexpected argument '{}'", name_, words_[i]));
  }

 private:
  std::string name_;
  std::vector<std::string> words_;
  std::map<std::string, std::string> options_;
  std::set<std::size_t> used_flags_;
};

// Test-only planted bugs (lib/core/planted_bugs.h), to check that the cluster's invariant
// checks catch what they claim to.
PlantedBug parse_bug(const std::string& text) {
  static const std::map<std::string, PlantedBug> names = {
      {"none", PlantedBug::none},
      {"skip_persist_before_send", PlantedBug::skip_persist_before_send},
      {"accept_below_promise", PlantedBug::accept_below_promise},
      {"choose_not_highest", PlantedBug::choose_not_highest},
      {"quorum_too_small", PlantedBug::quorum_too_small},
  };
  auto it = names.find(text);
  if (it == names.end()) throw CommandError(fmt::format("no planted bug '{}'", text));
  return it->second;
}

MessageType parse_type(const std::string& text) {
  for (int t = 1; t <= static_cast<int>(MessageType::read_index_reply); ++t) {
    auto type = static_cast<MessageType>(t);
    if (to_string(type) == text) return type;
  }
  throw CommandError(fmt::format("no message type '{}'", text));
}

void cmd_add_nodes(Cluster& c, Args& a, Lines& out) {
  Config base;
  std::size_t n = a.number(0);
  base.election_ticks = static_cast<std::uint32_t>(a.option("election", base.election_ticks));
  base.heartbeat_ticks = static_cast<std::uint32_t>(a.option("heartbeat", base.heartbeat_ticks));
  base.max_inflight = static_cast<std::uint32_t>(a.option("inflight", base.max_inflight));
  base.batch_count_max = static_cast<std::uint32_t>(a.option("batch", base.batch_count_max));
  base.batch_bytes_max = static_cast<std::uint32_t>(a.option("batch-bytes", base.batch_bytes_max));
  base.message_bytes_max =
      static_cast<std::uint32_t>(a.option("msg-bytes", base.message_bytes_max));
  base.seed = a.option("seed", base.seed);
  base.compaction_tail = a.option("tail", base.compaction_tail);
  base.alpha = static_cast<std::uint32_t>(a.option("alpha", base.alpha));
  base.promote_lag = a.option("promote-lag", base.promote_lag);
  base.lease_reads = a.option("lease", 0) != 0;
  base.max_drift_ticks = static_cast<std::uint32_t>(a.option("drift", base.max_drift_ticks));
  std::size_t spare = a.option("spare", 0);
  base.snapshot_chunk_bytes =
      static_cast<std::uint32_t>(a.option("chunk", base.snapshot_chunk_bytes));
  // Planted in these nodes only: the next add-nodes plants its own, or none.
  PlantedBug bug = PlantedBug::none;
  if (auto text = a.text_option("bug")) bug = parse_bug(*text);
  a.done(1);
  testing::plant_bug(bug);
  c.add_nodes(n, spare, base, out);
}

void cmd_tick(Cluster& c, Args& a, Lines& out) {
  a.done(a.words() > 1 ? 2 : 1);
  c.tick(a.node(0), a.words() > 1 ? a.number(1) : 1, out);
}

void cmd_tick_all(Cluster& c, Args& a, Lines& out) {
  a.done(a.words() > 0 ? 1 : 0);
  c.tick_all(a.words() > 0 ? a.number(0) : 1, out);
}

void cmd_process_ready(Cluster& c, Args& a, Lines& out) {
  bool stop = a.flag(1, "stop-before-sync");
  a.done(1);
  if (a.all(0)) {
    if (stop) throw CommandError("process-ready: stop-before-sync needs one node");
    c.process_ready_all(out);
  } else if (!c.process_ready(a.node(0), stop, out) && out.empty()) {
    out.push_back(fmt::format("{}: no ready", a.word(0)));
  }
}

void cmd_deliver(Cluster& c, Args& a, Lines& out) {
  bool drop = a.flag(1, "drop");
  MessageFilter f;
  f.from = NodeId{a.option("from", 0)};
  if (auto t = a.text_option("type")) f.type = parse_type(*t);
  a.done(1);
  if (a.all(0))
    c.deliver_all(f, drop, out);
  else
    c.deliver(a.node(0), f, drop, out);
}

void cmd_crash(Cluster& c, Args& a, Lines& out) {
  std::size_t keep = a.option("keep", 0);
  a.done(1);
  c.crash(a.node(0), keep, out);
}

void cmd_restart(Cluster& c, Args& a, Lines& out) {
  bool join = a.flag(1, "join");
  a.done(1);
  c.restart(a.node(0), join, out);
}

void cmd_change(Cluster& c, Args& a, Lines& out) {
  static const std::map<std::string, MembershipOp> ops = {
      {"add-learner", MembershipOp::add_learner},
      {"add-voter", MembershipOp::add_voter},
      {"promote", MembershipOp::promote},
      {"remove", MembershipOp::remove},
  };
  a.done(3);
  auto it = ops.find(a.word(1));
  if (it == ops.end())
    throw CommandError("change: op is add-learner, add-voter, promote or remove");
  c.change(a.node(0), it->second, a.node(2), out);
}

void cmd_status(Cluster& c, Args& a, Lines& out) {
  a.done(a.words() > 0 ? 1 : 0);
  c.status(a.words() > 0 ? std::optional<NodeId>(a.node(0)) : std::nullopt, out);
}

using Handler = std::function<void(Cluster&, Args&, Lines&)>;

// Commands whose only arguments are fixed node ids.
Handler on_nodes(std::size_t count, Handler f) {
  return [count, f](Cluster& c, Args& a, Lines& out) {
    a.done(count);
    for (std::size_t i = 0; i < count; ++i) a.node(i);  // present and numeric
    f(c, a, out);
  };
}

const std::map<std::string, Handler>& handlers() {
  static const std::map<std::string, Handler> table = {
      {"add-nodes", cmd_add_nodes},
      {"tick", cmd_tick},
      {"tick-all", cmd_tick_all},
      {"campaign", on_nodes(1, [](Cluster& c, Args& a, Lines& o) { c.campaign(a.node(0), o); })},
      {"process-ready", cmd_process_ready},
      {"deliver-msgs", cmd_deliver},
      {"stabilize", on_nodes(0, [](Cluster& c, Args&, Lines& o) { c.stabilize(o); })},
      {"crash", cmd_crash},
      {"restart", cmd_restart},
      {"read", on_nodes(1, [](Cluster& c, Args& a, Lines& o) { c.read(a.node(0), o); })},
      {"transfer",
       on_nodes(2, [](Cluster& c, Args& a, Lines& o) { c.transfer(a.node(0), a.node(1), o); })},
      {"change", cmd_change},
      {"compact", on_nodes(1, [](Cluster& c, Args& a, Lines& o) { c.compact(a.node(0), o); })},
      {"wipe", on_nodes(1, [](Cluster& c, Args& a, Lines& o) { c.wipe(a.node(0), o); })},
      {"partition",
       on_nodes(2, [](Cluster& c, Args& a, Lines&) { c.partition(a.node(0), a.node(1)); })},
      {"heal", on_nodes(0, [](Cluster& c, Args&, Lines&) { c.heal(); })},
      {"status", cmd_status},
      {"log", on_nodes(1, [](Cluster& c, Args& a, Lines& o) { c.log(a.node(0), o); })},
  };
  return table;
}

std::vector<std::string> split(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> tokens;
  for (std::string t; in >> t;) tokens.push_back(t);
  return tokens;
}

}  // namespace

Lines run_command(Cluster& cluster, const std::string& line) {
  std::vector<std::string> tokens = split(line);
  if (tokens.empty()) throw CommandError("empty command");
  std::string name = tokens.front();
  tokens.erase(tokens.begin());
  Lines out;
  if (name == "propose") {
    // The text is taken verbatim: it may contain '='.
    if (tokens.size() != 2) throw CommandError("usage: propose ID TEXT");
    cluster.propose(NodeId{parse_number(tokens[0], name)}, tokens[1], out);
  } else {
    auto it = handlers().find(name);
    if (it == handlers().end()) throw CommandError(fmt::format("unknown command '{}'", name));
    Args args(name, tokens);
    it->second(cluster, args, out);
  }
  if (out.empty()) out.push_back("ok");
  return out;
}

}  // namespace synod::script
