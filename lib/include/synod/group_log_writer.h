// Group commit for a GroupLog off the loop thread: the host hands each
// group's Ready writes here and carries on; a background thread saves every
// write handed over since its last batch into the log and makes them
// durable with one GroupLog::sync() (one fdatasync whatever the number of
// groups), then reports the highest durable sequence. Handing writes over
// never takes the log's mutex (GroupLog::sync holds it while writing), so
// the Ready loop never waits for the disk; opening a group's Storage
// (GroupLog::group, when a host adds a group) does, and may wait for a sync.
// The queue of writes handed over is not bounded here: the host bounds it
// by the proposals it lets in (Config::pending_bytes_max, max_inflight per
// group). No libuv here: a
// libuv host forwards the callback to its loop with uv_async_send
// (docs/groups.md; GroupHost does).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "synod/group_log.h"

namespace synod {

struct GroupLogWriterStats {
  std::uint64_t batches = 0;  // GroupLog::sync() calls: one fdatasync each (plus snapshot files)
  std::uint64_t writes = 0;   // group writes (a Ready's, or a removal) in them
};

class GroupLogWriter {
 public:
  // Runs on the writer thread after each batch: every submission with a
  // sequence up to durable_sequence is durable. status != ok means the log
  // failed for good: it is the last call. Must not block for long.
  using DurableFn = std::function<void(std::uint64_t durable_sequence, Status status)>;

  struct Submitted {
    Status status = Status::ok;
    std::uint64_t sequence = 0;  // finish this Ready once durable >= it
    bool ok() const { return status == Status::ok; }
  };

  // Starts the writer thread. While it runs only it calls the log's
  // save_ready(), remove_group() and sync().
  GroupLogWriter(GroupLog& log, DurableFn on_durable);
  ~GroupLogWriter();  // stop()
  GroupLogWriter(const GroupLogWriter&) = delete;
  GroupLogWriter& operator=(const GroupLogWriter&) = delete;

  // Copies one group's Ready writes (the snapshot's bytes are shared) into
  // the next batch. A write the log refuses (too large, a snapshot not above
  // the last) fails the log in the writer thread: fatal, as any log error.
  // Errors here: the log's earlier failure, or unavailable once stopped.
  Submitted submit(GroupId group, const Snapshot* snap, Slot keep_from, const HardState* hs,
                   std::span<const Entry> entries);
  // Forgets the group in the log, after every write submitted for it.
  Submitted remove_group(GroupId group);
  // Blocks until everything submitted before the call is durable (ok) or
  // the log failed (its error).
  Status flush();
  // Flushes what was submitted, then stops and joins the thread. Idempotent.
  void stop();
  GroupLogWriterStats stats() const;

 private:
  struct Write {
    GroupId group{};
    bool remove = false;
    std::optional<Snapshot> snapshot;
    Slot keep_from{};
    std::optional<HardState> hard_state;
    std::vector<Entry> entries;
  };
  Submitted enqueue(Write w);
  void run();
  Status write_batch(std::vector<Write>& batch);

  GroupLog& log_;
  DurableFn on_durable_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the writer waits here for work
  std::condition_variable done_;  // flush() waits here for batches
  std::vector<Write> queue_;      // submitted, not yet taken by the writer
  // Invariants: durable_ <= submitted_; the queue holds sequences
  // (submitted_ - queue_.size(), submitted_].
  std::uint64_t submitted_ = 0;
  std::uint64_t durable_ = 0;
  Status failed_ = Status::ok;
  bool stopping_ = false;
  bool exited_ = false;
  GroupLogWriterStats stats_;
  std::thread thread_;  // Invariant: started last, after every field above.
};

}  // namespace synod
