// The file operations the durable log needs, behind a small interface, so that
// tests can inject faults and simulate crashes (synod/fault_file_system.h)
// without a real disk or a dying process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "synod/status.h"

namespace synod {

// The outcome of one file operation: ok, or an error status with a sentence
// naming the operation, the path and the cause. Errors are values.
struct IoStatus {
  // ok, storage_error, or no_space (ENOSPC, EDQUOT).
  Status status = Status::ok;
  // Empty when ok.
  std::string message;

  bool ok() const { return status == Status::ok; }
  // Maps an errno value: ENOSPC and EDQUOT become no_space, the rest
  // storage_error. The message reads "<operation> <path>: <strerror>".
  static IoStatus from_errno(int error_number, std::string_view operation, std::string_view path);
  static IoStatus failure(Status status, std::string message) {
    return IoStatus{status, std::move(message)};
  }
};

// An open file. Not thread-safe: one caller at a time.
class File {
 public:
  virtual ~File() = default;

  // Reads up to out.size() bytes at offset into out. *read_bytes is below
  // out.size() only at the end of the file.
  virtual IoStatus read_at(std::uint64_t offset, std::span<std::byte> out,
                           std::size_t* read_bytes) = 0;
  // Writes a prefix of data at offset. On ok *written_bytes may be below
  // data.size() (a short write): the caller writes the rest. On error an
  // unknown prefix may have reached the file.
  virtual IoStatus write_at(std::uint64_t offset, std::span<const std::byte> data,
                            std::size_t* written_bytes) = 0;
  // fdatasync: everything written to this file, its size included, is
  // durable when it returns ok. An error leaves the file's durable contents
  // unknown: callers must treat it as fatal (no retry: the kernel may have
  // dropped the dirty pages).
  virtual IoStatus sync_data() = 0;
  // Sets the size; bytes past it are gone (once synced).
  virtual IoStatus truncate(std::uint64_t size_bytes) = 0;
  // Reserves disk blocks up to size_bytes, extending the file with zeros
  // (fallocate mode 0). Never shrinks. no_space when the disk is full.
  virtual IoStatus allocate(std::uint64_t size_bytes) = 0;
  virtual IoStatus size(std::uint64_t* size_bytes) = 0;
  // Writes `bytes` zeros at offset, all of them (not synced: sync_data
  // makes them durable). The default writes a buffer of zeros through
  // write_at. The POSIX file writes whole 4 KiB blocks with O_DIRECT where
  // the file system takes it: 64 MiB of zeros (a segment zeroed ahead) then
  // cost neither the copy into the page cache nor its writeback.
  virtual IoStatus write_zeros(std::uint64_t offset, std::uint64_t bytes);
  // Writes all of data at offset (not synced), keeping it out of the page
  // cache where it can. The default writes through write_at. The POSIX file
  // writes the whole 4 KiB blocks with O_DIRECT where the file system takes
  // it, straight from data where data is 4 KiB-aligned in memory, else
  // through an aligned copy (the partial blocks at either end go through
  // write_at): a file written once and not read back soon, such as a
  // snapshot or a log segment, then costs neither the page cache's copy,
  // dirtying and writeback nor, at its unlink, the dropping of its pages.
  virtual IoStatus write_uncached(std::uint64_t offset, std::span<const std::byte> data);
  // Starts writing the range's dirty pages to the device and returns
  // without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE on the
  // POSIX file); durability still needs sync_data(). Lets a large file go
  // to disk in steps rather than all at its sync. Default: nothing.
  virtual IoStatus start_writeback(std::uint64_t offset, std::uint64_t bytes);
};

// Held while a directory is in use; released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode : std::uint8_t {
  read_write = 0,  // an existing file
  create_new = 1,  // a new file; fails if the path exists
};

// Paths are plain strings joined with '/' (join_path). Directory entries
// (create, rename, remove) are durable only after sync_dir of their parent.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual IoStatus open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) = 0;
  // Names (not paths) of the entries directly in dir, in no particular order.
  virtual IoStatus list(const std::string& dir, std::vector<std::string>* names) = 0;
  // Atomically replaces `to` if it exists.
  virtual IoStatus rename(const std::string& from, const std::string& to) = 0;
  virtual IoStatus remove(const std::string& path) = 0;
  // fsync of a directory: makes its entries (creates, renames, removes) durable.
  virtual IoStatus sync_dir(const std::string& dir) = 0;
  // Creates dir if missing; *created tells whether it did.
  virtual IoStatus make_dir(const std::string& dir, bool* created) = 0;
  // An exclusive lock on path (created if missing), so two processes never
  // write one log. storage_error if another holder has it.
  virtual IoStatus lock(const std::string& path, std::unique_ptr<FileLock>* out) = 0;
};

// The real file system: POSIX calls (pread, pwrite, fdatasync, fallocate,
// flock). Thread-safe. Lives for the whole program.
FileSystem& posix_file_system();

// "dir/name"; name alone when dir is empty.
std::string join_path(std::string_view dir, std::string_view name);
// The directory part of a path ("." when there is none).
std::string parent_dir(std::string_view path);

}  // namespace synod
