// An in-memory FileSystem for tests: injects write and sync errors, short
// writes and a full disk, and simulates a crash that loses every write not
// yet synced (optionally keeping a torn prefix of them).
//
// Durability model (what a crash keeps):
// - a file's bytes as of its last sync_data(), plus, with
//   crash(keep_unsynced_bytes), the first bytes written since then;
// - a directory entry (create, rename, remove) as of the last sync_dir() of
//   its parent; an entry never synced vanishes, a removal never synced is
//   undone.
// Thread-safe: every call takes one mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "synod/file_system.h"

namespace synod {

enum class FsOp : std::uint8_t {
  open,
  read,
  write,
  sync_data,
  truncate,
  allocate,
  list,
  rename,
  remove,
  sync_dir,
  make_dir,
  lock,
};
inline constexpr std::size_t kFsOpCount = 12;

class FaultFileSystem final : public FileSystem {
 public:
  FaultFileSystem();
  ~FaultFileSystem() override;

  // ---- faults -------------------------------------------------------------
  // Let `skip` calls of op succeed, then fail the next `count` with errno
  // error_number (EIO: storage_error, ENOSPC: no_space). A failed write moves
  // no bytes; a failed sync_data makes nothing durable.
  void fail(FsOp op, int error_number, std::uint64_t skip = 0, std::uint64_t count = 1);
  // Each write moves at most this many bytes and reports a short write
  // (0: no limit). Callers must loop.
  void set_write_bytes_max(std::size_t bytes);
  // Total bytes of all files at most this (0: unlimited). A write that does
  // not fit moves what fits (a short write), the next one fails with ENOSPC;
  // allocate fails whole.
  void set_capacity_bytes(std::uint64_t bytes);
  void clear_faults();

  // ---- crash --------------------------------------------------------------
  // Every open File and FileLock dies (later calls fail), and the disk keeps
  // only what the durability model above says, plus the first
  // keep_unsynced_bytes bytes written to each file since its last sync.
  void crash(std::uint64_t keep_unsynced_bytes = 0);

  // ---- inspection (tests) ---------------------------------------------------
  std::uint64_t calls(FsOp op) const;
  bool exists(const std::string& path) const;
  // A file's current bytes (empty if missing).
  std::vector<std::byte> contents(const std::string& path) const;
  // Replaces a file's bytes, durably, bypassing faults (tests damage logs).
  void set_contents(const std::string& path, std::vector<std::byte> bytes);
  std::uint64_t used_bytes() const;

  // ---- FileSystem -----------------------------------------------------------
  IoStatus open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override;
  IoStatus list(const std::string& dir, std::vector<std::string>* names) override;
  IoStatus rename(const std::string& from, const std::string& to) override;
  IoStatus remove(const std::string& path) override;
  IoStatus sync_dir(const std::string& dir) override;
  IoStatus make_dir(const std::string& dir, bool* created) override;
  IoStatus lock(const std::string& path, std::unique_ptr<FileLock>* out) override;

  struct Inode;  // public for the File and FileLock handles in the .cc

 private:
  friend class FaultFile;
  friend class FaultLock;
  struct Rule {
    FsOp op;
    int error_number;
    std::uint64_t skip;
    std::uint64_t count;
  };
  // Counts the call and returns the injected error, if any. Holds mutex_.
  IoStatus check(FsOp op, const std::string& path);
  std::uint64_t used_bytes_locked() const;

  mutable std::mutex mutex_;
  std::vector<Rule> rules_;
  std::uint64_t calls_[kFsOpCount] = {};
  std::size_t write_bytes_max_ = 0;
  std::uint64_t capacity_bytes_ = 0;
  bool disk_full_ = false;  // set by a write that filled the disk
  // Invariant: bumped by crash(); handles from an older epoch fail.
  std::uint64_t epoch_ = 0;
  // Current and durable directory entries: path -> file.
  std::map<std::string, std::shared_ptr<Inode>> names_;
  std::map<std::string, std::shared_ptr<Inode>> durable_names_;
  std::set<std::string> dirs_;
  std::set<std::string> locked_;
};

}  // namespace synod
