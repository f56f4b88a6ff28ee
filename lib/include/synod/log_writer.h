// Group commit off the loop thread: the host submits each Ready's writes and
// carries on; a background thread syncs everything submitted so far in one
// batch (one fdatasync for many Readys) and reports the highest durable
// sequence through a callback. No libuv here: a libuv host forwards the
// callback to its loop (UvHost with an eventfd under a uv_poll_t rather
// than uv_async_send: docs/storage.md, "Waking the loop").
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <thread>

#include "synod/log_storage.h"

namespace synod {

class LogWriter {
 public:
  // Runs on the writer thread after each sync (or failed sync or
  // compaction): every submission with a sequence up to durable_sequence is
  // durable. status != ok means the log failed for good: it is the last call.
  // Must not block for long (it delays the next sync); may call submit().
  using DurableFn = std::function<void(std::uint64_t durable_sequence, Status status)>;

  struct Submitted {
    Status status = Status::ok;
    std::uint64_t sequence = 0;  // report this Ready's messages once durable >= it
    bool ok() const { return status == Status::ok; }
  };

  // Starts the writer thread. `storage` must outlive the writer; while the
  // writer runs, only it calls storage.sync() and compact(), or sync_here()
  // on the submitting thread while the writer has nothing asked of it.
  LogWriter(LogStorage& storage, DurableFn on_durable);
  // stop().
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Stages the writes (no I/O on the caller's thread) and wakes the writer.
  // Errors: the log's fatal error, or too_large (nothing staged).
  Submitted submit(const HardState* hs, std::span<const Entry> entries);
  // The same for a whole Ready: its snapshot (if non-null; the bytes are
  // shared, not copied) with keep_from, then its hard state and entries, in
  // one save (LogStorage::save_ready). The writer thread writes the snapshot
  // file, the batch, and then compacts below keep_from before reporting.
  // Errors also: invalid_argument for a snapshot not above the last one or
  // keep_from above its slot + 1 (nothing staged).
  Submitted submit(const Snapshot* snap, Slot keep_from, const HardState* hs,
                   std::span<const Entry> entries);
  // The same, without asking for a sync: for a Ready whose must_sync is
  // false (a hard state that only moves the commit index, which need not be
  // durable: docs/protocol.md, "Durability"). Its writes go with the next
  // sync that something else asks for (or flush(), or stop()); until then
  // the writer does not wake for them. A leader's commit-only Ready after
  // each acknowledgement would otherwise cost an fdatasync of its own, in
  // front of the next batch's entries.
  Submitted submit_unsynced(const HardState* hs, std::span<const Entry> entries);
  // Writes and syncs on the calling thread (the submitting one), when the
  // writer thread has no sync or compaction to do: one fdatasync, with no
  // hand-over to the writer thread and back. *synced is false, and nothing
  // is staged, when it has: submit() then. Errors as submit()'s, and a
  // failed sync, which is fatal for the writer too.
  Status sync_here(const HardState* hs, std::span<const Entry> entries, bool* synced);
  // Compacts below `below` on the writer thread after its next sync
  // (LogStorage::compact). A later call with a higher slot supersedes.
  void request_compaction(Slot below);
  // Blocks until everything submitted before the call is durable (ok) or
  // the log failed (its error).
  Status flush();
  // Flushes what was submitted, then stops and joins the thread. Idempotent.
  void stop();
  // Asks the writer thread for a sync of everything saved so far: the
  // storage's request for the record of a snapshot written behind
  // (LogStorage::set_sync_request, installed by the constructor).
  void request_sync();

  std::uint64_t durable_sequence() const { return storage_.durable_sequence(); }

 private:
  void run();
  bool has_work() const;  // requires mutex_

  LogStorage& storage_;
  DurableFn on_durable_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the writer waits here for work
  std::condition_variable done_;  // flush() waits here for syncs
  // Invariant: the sequence of the last successful submit.
  std::uint64_t submitted_ = 0;
  // Invariant: at most submitted_; the last sequence a sync was asked for.
  std::uint64_t sync_wanted_ = 0;
  Slot compact_below_{};    // requested; Slot{0}: nothing requested
  Slot compacted_below_{};  // done
  Status failed_ = Status::ok;
  bool stopping_ = false;
  bool exited_ = false;
  std::thread thread_;  // Invariant: started last, after every field above.
};

}  // namespace synod
