// synod-sim: the seeded simulator. `--seed N` runs (or replays) one seed;
// `--seeds A..B` runs many. Exit status 0 when every seed passed.
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "group_world.h"
#include "synod/panic.h"
#include "world.h"

using namespace synod;

namespace {

struct Args {
  std::uint64_t first = 1, last = 1;
  sim::Options opt;
  bool expect_failure = false;  // the planted-bug gate: some seed must fail
  bool print_hash = false;
};

[[noreturn]] void usage(const std::string& why) {
  fmt::print(stderr,
             "synod-sim: {}\n"
             "usage: synod-sim (--seed N | --seeds A..B) [--replicas 3|5] [--fault-ticks T]\n"
             "                 [--groups] [--plant BUG] [--expect-failure] [--verbose] [--hash]\n"
             "                 [--quiesce] [--txn]\n"
             "BUG: skip_persist_before_send accept_below_promise choose_not_highest "
             "quorum_too_small read_without_confirm config_before_alpha accept_catchup_unasked\n"
             "     tail_cut_past_snapshot (caught by Learner::compact's assertion)\n"
             "     quiesced_follower_campaigns (caught with --quiesce)\n"
             "     probe_past_stickiness (caught with --quiesce by the assertion on what a sleeper "
             "sends)\n"
             "     rejoin_campaign_while_receiving (caught with --quiesce --replicas 5 "
             "--seed 963856)\n"
             "     deliver_to_wrong_group sleep_through_dead_leader (caught with --groups)\n"
             "     apply_before_decision (a participant applies at prepare; with --txn)\n"
             "     abort_tells_inquirer_only (an inquiry's abort reaches only the inquirer; "
             "with --txn)\n"
             "     forget_unacked (a coordinator forgets a decision not every shard acked; "
             "with --txn)\n"
             "     prepare_below_floor (a participant prepares a forgotten txn again; "
             "with --txn)\n"
             "--quiesce: Config::quiesce on, the world as the host's node liveness\n"
             "--groups: many Paxos groups on every node (synod::GroupSet), 600 fault ticks\n"
             "--txn: the --groups worlds as shards running the cross-shard commit protocol,\n"
             "       a bank of transfers and all-balance reads (docs/testing.md)\n",
             why);
  std::exit(2);
}

PlantedBug parse_bug(const std::string& s) {
  if (s == "skip_persist_before_send") return PlantedBug::skip_persist_before_send;
  if (s == "accept_below_promise") return PlantedBug::accept_below_promise;
  if (s == "choose_not_highest") return PlantedBug::choose_not_highest;
  if (s == "quorum_too_small") return PlantedBug::quorum_too_small;
  if (s == "read_without_confirm") return PlantedBug::read_without_confirm;
  if (s == "config_before_alpha") return PlantedBug::config_before_alpha;
  if (s == "accept_catchup_unasked") return PlantedBug::accept_catchup_unasked;
  if (s == "deliver_to_wrong_group") return PlantedBug::deliver_to_wrong_group;
  if (s == "sleep_through_dead_leader") return PlantedBug::sleep_through_dead_leader;
  if (s == "quiesced_follower_campaigns") return PlantedBug::quiesced_follower_campaigns;
  if (s == "tail_cut_past_snapshot") return PlantedBug::tail_cut_past_snapshot;
  if (s == "probe_past_stickiness") return PlantedBug::probe_past_stickiness;
  if (s == "rejoin_campaign_while_receiving") return PlantedBug::rejoin_campaign_while_receiving;
  usage("unknown bug " + s);
}

std::uint64_t number(const std::string& s) {
  try {
    std::size_t used = 0;
    std::uint64_t v = std::stoull(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  usage("not a number: " + s);
}

Args parse(int argc, char** argv) {
  Args a;
  bool fault_ticks_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(k + " needs a value");
      return argv[++i];
    };
    if (k == "--seed") {
      a.first = a.last = number(val());
    } else if (k == "--seeds") {
      std::string v = val();
      auto dots = v.find("..");
      if (dots == std::string::npos) usage("--seeds takes A..B");
      a.first = number(v.substr(0, dots));
      a.last = number(v.substr(dots + 2));
      if (a.last < a.first) usage("--seeds: B is below A");
    } else if (k == "--replicas") {
      a.opt.replicas = number(val());
      if (a.opt.replicas != 3 && a.opt.replicas != 5) usage("--replicas takes 3 or 5");
    } else if (k == "--fault-ticks") {
      a.opt.fault_ticks = number(val());
      fault_ticks_given = true;
      if (a.opt.fault_ticks < 400) usage("--fault-ticks must be at least 400");
    } else if (k == "--groups") {
      a.opt.groups = true;
      if (!fault_ticks_given) a.opt.fault_ticks = 600;
    } else if (k == "--txn") {
      a.opt.groups = a.opt.txn = true;
      if (!fault_ticks_given) a.opt.fault_ticks = 600;
    } else if (k == "--plant") {
      std::string bug = val();
      if (sim::TxnHost::plants().contains(bug))
        a.opt.txn_plant = bug;
      else
        a.opt.bug = parse_bug(bug);
    } else if (k == "--expect-failure") {
      a.expect_failure = true;
    } else if (k == "--verbose") {
      a.opt.verbose = true;
    } else if (k == "--hash") {
      a.print_hash = true;
    } else if (k == "--quiesce") {
      a.opt.quiesce = true;
    } else {
      usage("unknown argument " + k);
    }
  }
  if (!a.opt.txn_plant.empty() && !a.opt.txn) usage(a.opt.txn_plant + " needs --txn");
  return a;
}

void report_failure(std::uint64_t seed, const sim::Result& r, const sim::Options& o) {
  fmt::print("seed {} FAILED: {}\n  scenario: {}\n  trace hash {:016x} after {} events\n", seed,
             r.failure, r.scenario, r.trace_hash, r.events);
  fmt::print("  last events:\n");
  for (const auto& line : r.last_events) fmt::print("    {}\n", line);
  fmt::print("  replay: synod-sim --seed {}{}{} --verbose\n", seed,
             o.txn      ? " --txn"
             : o.groups ? " --groups"
                        : "",
             o.txn_plant.empty() ? "" : " --plant " + o.txn_plant);
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  set_panic_handler([](const char* what) { throw std::runtime_error(what); });
  auto t0 = std::chrono::steady_clock::now();
  std::uint64_t passed = 0, failed = 0, slots = 0, acked = 0, ops = 0;
  std::uint64_t txn_committed = 0, txn_aborted = 0, txn_reads = 0;
  for (std::uint64_t seed = a.first; seed <= a.last; ++seed) {
    a.opt.seed = seed;
    sim::Result r = a.opt.groups ? sim::run_groups(a.opt) : sim::run(a.opt);
    slots += r.chosen_slots;
    acked += r.acknowledged;
    ops += r.ops_checked;
    txn_committed += r.txns_committed;
    txn_aborted += r.txns_aborted;
    txn_reads += r.txn_reads_checked;
    if (a.print_hash || a.first == a.last)
      fmt::print(
          "seed {}: {} ({}), {} slots chosen, {} acknowledged, {} client operations checked "
          "linearizable, {} ticks, trace hash {:016x}\n",
          seed, r.ok ? "ok" : "FAILED", r.scenario, r.chosen_slots, r.acknowledged, r.ops_checked,
          r.ticks, r.trace_hash);
    if (a.opt.txn && (a.print_hash || a.first == a.last))
      fmt::print("seed {}: transactions {} committed, {} aborted, {} committed reads checked\n",
                 seed, r.txns_committed, r.txns_aborted, r.txn_reads_checked);
    if (r.ok) {
      ++passed;
      continue;
    }
    ++failed;
    if (a.expect_failure) {
      fmt::print("planted bug caught at seed {}: {}\n", seed, r.failure);
      return 0;
    }
    report_failure(seed, r, a.opt);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(
      "sim: seeds {}..{}: {} passed, {} failed ({:.1f} seeds/s, {} slots chosen, {} "
      "commands acknowledged, {} client operations checked linearizable)\n",
      a.first, a.last, passed, failed, (passed + failed) / secs, slots, acked, ops);
  if (a.opt.txn)
    fmt::print(
        "txn: {} transactions committed, {} aborted, {} committed reads of every balance "
        "checked\n",
        txn_committed, txn_aborted, txn_reads);
  if (a.expect_failure) {
    fmt::print("planted bug NOT caught in seeds {}..{}\n", a.first, a.last);
    return 1;
  }
  return failed == 0 ? 0 : 1;
}
