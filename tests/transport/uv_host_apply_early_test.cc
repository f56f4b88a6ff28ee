// UvHostOptions::apply_before_durable over the LogWriter: with the leader's
// fdatasync held, a command chosen by the two followers' durable acceptances
// is applied and answered on the leader at once; without the option the
// answer waits for the leader's own sync. Messages other than accepts still
// wait: the leader's disk is released only after the answer is checked.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "forwarding_file_system.h"
#include "synod/fault_file_system.h"
#include "synod/log_storage.h"
#include "uv_test_cluster.h"

using namespace synod;
using namespace synod::test;

namespace {

// A FaultFileSystem whose sync_data blocks while held (the writer thread
// waits there, as on a slow disk).
// The FaultFileSystem underneath, constructed before the forwarding base
// that refers to it.
struct OwnFaults {
  FaultFileSystem faults;
};

class HeldSyncFileSystem final : private OwnFaults, public test::ForwardingFileSystem {
 public:
  HeldSyncFileSystem() : ForwardingFileSystem(faults) {}
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    released_.notify_all();
  }
  // Syncs that found the disk held (the writer is blocked in one now).
  int blocked() const { return blocked_.load(); }

  IoStatus open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override {
    std::unique_ptr<File> inner;
    IoStatus st = ForwardingFileSystem::open(path, mode, &inner);
    if (st.ok()) *out = std::make_unique<HeldFile>(*this, std::move(inner));
    return st;
  }

 private:
  class HeldFile final : public test::ForwardingFile {
   public:
    HeldFile(HeldSyncFileSystem& owner, std::unique_ptr<File> inner)
        : ForwardingFile(std::move(inner)), owner_(owner) {}
    IoStatus sync_data() override {
      owner_.wait_while_held();
      return ForwardingFile::sync_data();
    }

   private:
    HeldSyncFileSystem& owner_;
  };

  void wait_while_held() {
    std::unique_lock lock(mutex_);
    if (held_) ++blocked_;
    released_.wait(lock, [&] { return !held_; });
  }

  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
  std::atomic<int> blocked_{0};
};

struct DurableNode {
  HeldSyncFileSystem fs;
  std::unique_ptr<LogStorage> log;
};

// Runs a 3-node cluster on durable logs (each over its own held-sync file
// system), holds the leader's disk, proposes one command there, and tells
// whether it was answered before the disk was released.
bool answered_while_leader_disk_held(bool apply_before_durable) {
  std::map<std::uint64_t, std::unique_ptr<DurableNode>> nodes;
  UvTestCluster c(7, [&](UvMember& m, TcpTransportOptions&, UvHostOptions& h) {
    auto& n = nodes[m.id.value];
    n = std::make_unique<DurableNode>();
    n->log = open_member_log(m, n->fs);
    h.apply_before_durable = apply_before_durable;
    // While the leader's disk is held its heartbeats wait too: an election
    // timeout of 500 ms outlasts the 200 ms the test holds it.
    h.tick_ms = 20;
    h.config.election_ticks = 25;
  });
  c.start_voters(3);
  REQUIRE(c.run_until([&] { return c.leader() != nullptr; }));
  REQUIRE(c.commit(5, "warm"));  // settled: the leader's election writes are durable
  UvMember* leader = c.leader();
  DurableNode& disk = *nodes.at(leader->id.value);
  disk.fs.hold();
  bool answered = false;
  std::string result;
  REQUIRE(leader->host
              ->propose("held",
                        [&](const ProposalOutcome& o, const std::string& r) {
                          CHECK(o.outcome == Outcome::committed);
                          answered = true;
                          result = r;
                        })
              .ok());
  // The followers' syncs are not held: they accept, and their two durable
  // acceptances choose the command without the leader's.
  c.run_until([&] { return answered; }, 200);
  bool early = answered;
  CHECK(disk.fs.blocked() >= 1);  // the leader's writer did wait on the disk
  if (early) CHECK(leader->applied.back() == "held");
  disk.fs.release();
  REQUIRE(c.run_until([&] { return answered; }));
  CHECK(result == "applied held");
  CHECK(c.leader() == leader);  // no election meanwhile
  c.finish();
  return early;
}

}  // namespace

TEST_CASE(
    "apply_before_durable: a command the followers chose is answered while the leader's "
    "fdatasync is held, and only then without it") {
  CHECK(answered_while_leader_disk_held(true));
  CHECK_FALSE(answered_while_leader_disk_held(false));
}
