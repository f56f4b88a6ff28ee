// FileSystem over POSIX calls. Every call retries EINTR; no other error is
// retried, because a failed fdatasync may have dropped dirty pages and a
// retry that "succeeds" would lie about durability.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "synod/file_system.h"

namespace synod {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  IoStatus read_at(std::uint64_t offset, std::span<std::byte> out,
                   std::size_t* read_bytes) override {
    if (IoStatus st = set_direct(false); !st.ok()) return st;
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoStatus::from_errno(errno, "pread", path_);
      if (n == 0) break;  // end of file
      done += static_cast<std::size_t>(n);
    }
    *read_bytes = done;
    return {};
  }

  IoStatus write_at(std::uint64_t offset, std::span<const std::byte> data,
                    std::size_t* written_bytes) override {
    if (IoStatus st = set_direct(false); !st.ok()) return st;
    ssize_t n;
    do {
      n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return IoStatus::from_errno(errno, "pwrite", path_);
    *written_bytes = static_cast<std::size_t>(n);
    return {};
  }

  IoStatus sync_data() override {
    int rc;
    do {
      rc = ::fdatasync(fd_);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return IoStatus::from_errno(errno, "fdatasync", path_);
    return {};
  }

  IoStatus start_writeback(std::uint64_t offset, std::uint64_t bytes) override {
    int rc;
    do {
      rc = ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(bytes),
                             SYNC_FILE_RANGE_WRITE);
    } while (rc < 0 && errno == EINTR);
    // Advice only: a file system without it (ESPIPE, EINVAL) writes back at
    // the sync instead.
    if (rc < 0 && errno != ESPIPE && errno != EINVAL && errno != ENOSYS)
      return IoStatus::from_errno(errno, "sync_file_range", path_);
    return {};
  }

  IoStatus truncate(std::uint64_t size_bytes) override {
    int rc;
    do {
      rc = ::ftruncate(fd_, static_cast<off_t>(size_bytes));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return IoStatus::from_errno(errno, "ftruncate", path_);
    return {};
  }

  IoStatus allocate(std::uint64_t size_bytes) override {
    // glibc's fallback, where the file system has no fallocate, writes a
    // byte per block: not with O_DIRECT.
    if (IoStatus st = set_direct(false); !st.ok()) return st;
    // posix_fallocate returns the error instead of setting errno; glibc
    // emulates it by writing zeros where the file system lacks fallocate.
    int rc;
    do {
      rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size_bytes));
    } while (rc == EINTR);
    if (rc != 0) return IoStatus::from_errno(rc, "fallocate", path_);
    return {};
  }

  IoStatus size(std::uint64_t* size_bytes) override {
    struct stat st {};
    if (::fstat(fd_, &st) < 0) return IoStatus::from_errno(errno, "fstat", path_);
    *size_bytes = static_cast<std::uint64_t>(st.st_size);
    return {};
  }

  // Whole aligned blocks go by O_DIRECT from a zeroed buffer; anything else
  // (an unaligned end, a short write, a file system or device that refuses
  // O_DIRECT) by write_at.
  IoStatus write_zeros(std::uint64_t offset, std::uint64_t bytes) override {
    if (offset % kAlign == 0 && bytes >= kAlign && direct_zeros()) {
      while (bytes >= kAlign) {
        std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(kDirectBufferBytes, bytes - bytes % kAlign));
        std::size_t w = 0;
        if (IoStatus st = pwrite_direct(direct_zeros(), n, offset, &w); !st.ok()) return st;
        if (w == 0) break;  // refused, or nothing moved: the rest buffered
        offset += w;
        bytes -= w;
        if (w % kAlign != 0) break;
      }
    }
    return File::write_zeros(offset, bytes);
  }

  // The partial blocks at either end through write_at; the whole blocks in
  // between with O_DIRECT, straight from data where it is aligned in memory
  // (a log's batch, built so: SegmentLog), else copied through an aligned
  // buffer; where the file system or device refuses O_DIRECT, through
  // write_at too.
  IoStatus write_uncached(std::uint64_t offset, std::span<const std::byte> data) override {
    const std::size_t head = static_cast<std::size_t>(
        std::min<std::uint64_t>(data.size(), (kAlign - offset % kAlign) % kAlign));
    if (IoStatus st = File::write_uncached(offset, data.first(head)); !st.ok()) return st;
    offset += head;
    data = data.subspan(head);
    const std::size_t whole = data.size() - data.size() % kAlign;
    if (whole > 0 && !direct_refused_) {
      std::size_t done = 0;
      IoStatus st = reinterpret_cast<std::uintptr_t>(data.data()) % kAlign == 0
                        ? write_whole_direct(offset, data.first(whole), &done)
                        : write_copied_direct(offset, data.first(whole), &done);
      if (!st.ok()) return st;
      offset += done;
      data = data.subspan(done);
    }
    return File::write_uncached(offset, data);
  }

 private:
  static constexpr std::uint64_t kAlign = 4096;
  static constexpr std::size_t kDirectBufferBytes = 1u << 20;

  // O_DIRECT on or off for the calls that follow. It is left on after an
  // uncached write (a log's appends come one after another, and each
  // switch is a system call) and switched off before a buffered read or
  // write, which it would make fail. A refusal (a file system without
  // O_DIRECT) is remembered: everything then goes buffered.
  IoStatus set_direct(bool on) {
    if (direct_on_ == on) return {};
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0) return IoStatus::from_errno(errno, "fcntl (F_GETFL)", path_);
    int wanted = on ? flags | O_DIRECT : flags & ~O_DIRECT;
    if (::fcntl(fd_, F_SETFL, wanted) != 0) {
      if (!on) return IoStatus::from_errno(errno, "fcntl (clearing O_DIRECT)", path_);
      direct_refused_ = true;
      return {};
    }
    direct_on_ = on;
    return {};
  }

  // One pwrite of n bytes (p, offset and n aligned) with O_DIRECT; *written
  // is 0 where O_DIRECT is refused (then the caller goes buffered).
  IoStatus pwrite_direct(const std::byte* p, std::size_t n, std::uint64_t offset,
                         std::size_t* written) {
    *written = 0;
    if (direct_refused_) return {};
    if (IoStatus st = set_direct(true); !st.ok() || !direct_on_) return st;
    ssize_t w;
    do {
      w = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
    } while (w < 0 && errno == EINTR);
    if (w < 0 && errno == EINVAL) {
      direct_refused_ = true;  // an alignment this device does not take
      return set_direct(false);
    }
    if (w < 0) return IoStatus::from_errno(errno, "pwrite (O_DIRECT)", path_);
    *written = static_cast<std::size_t>(w);
    return {};
  }

  // Of data (whole blocks at an aligned offset, aligned in memory), what
  // O_DIRECT takes, in *done; stops early, with ok, where it is refused or
  // a write came back short.
  IoStatus write_whole_direct(std::uint64_t offset, std::span<const std::byte> data,
                              std::size_t* done) {
    *done = 0;
    while (*done < data.size()) {
      std::size_t w = 0;
      if (IoStatus st = pwrite_direct(data.data() + *done, data.size() - *done, offset + *done, &w);
          !st.ok())
        return st;
      *done += w;
      if (w == 0 || w % kAlign != 0) break;
    }
    return {};
  }

  // As write_whole_direct for data not aligned in memory: through a copy.
  IoStatus write_copied_direct(std::uint64_t offset, std::span<const std::byte> data,
                               std::size_t* done) {
    *done = 0;
    std::unique_ptr<std::byte, decltype(&std::free)> buffer(
        static_cast<std::byte*>(std::aligned_alloc(kAlign, kDirectBufferBytes)), &std::free);
    if (!buffer) return {};  // no memory for the copy: buffered
    while (*done < data.size()) {
      std::size_t n = std::min(kDirectBufferBytes, data.size() - *done);
      std::memcpy(buffer.get(), data.data() + *done, n);
      std::size_t w = 0;
      if (IoStatus st = pwrite_direct(buffer.get(), n, offset + *done, &w); !st.ok()) return st;
      *done += w;
      // A short write leaves the rest unaligned, or nothing moved: the
      // caller writes the rest through write_at.
      if (w == 0 || w % kAlign != 0) break;
    }
    return {};
  }

  // 1 MiB of zeros aligned for O_DIRECT, shared, never freed; nullptr if
  // it could not be had (then zeros go buffered).
  static const std::byte* direct_zeros() {
    static const std::byte* zeros = [] {
      void* p = std::aligned_alloc(kAlign, kDirectBufferBytes);
      if (p) std::memset(p, 0, kDirectBufferBytes);
      return static_cast<const std::byte*>(p);
    }();
    return zeros;
  }

  int fd_;  // Invariant: open until destruction; O_DIRECT set iff direct_on_.
  std::string path_;
  bool direct_on_ = false;
  bool direct_refused_ = false;  // O_DIRECT failed once: everything goes buffered
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override { ::close(fd_); }  // closing releases the flock
  PosixLock(const PosixLock&) = delete;
  PosixLock& operator=(const PosixLock&) = delete;

 private:
  int fd_;
};

int open_retrying(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class PosixFileSystem final : public FileSystem {
 public:
  IoStatus open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override {
    int flags = O_RDWR | O_CLOEXEC;
    if (mode == OpenMode::create_new) flags |= O_CREAT | O_EXCL;
    int fd = open_retrying(path.c_str(), flags, 0644);
    if (fd < 0) return IoStatus::from_errno(errno, "open", path);
    *out = std::make_unique<PosixFile>(fd, path);
    return {};
  }

  IoStatus list(const std::string& dir, std::vector<std::string>* names) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return IoStatus::from_errno(errno, "opendir", dir);
    names->clear();
    errno = 0;
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names->emplace_back(name);
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return IoStatus::from_errno(err, "readdir", dir);
    return {};
  }

  IoStatus rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) < 0)
      return IoStatus::from_errno(errno, "rename to " + to + " from", from);
    return {};
  }

  IoStatus remove(const std::string& path) override {
    if (::unlink(path.c_str()) < 0) return IoStatus::from_errno(errno, "unlink", path);
    return {};
  }

  IoStatus sync_dir(const std::string& dir) override {
    int fd = open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return IoStatus::from_errno(errno, "open directory", dir);
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc < 0 && errno == EINTR);
    int err = errno;
    ::close(fd);
    if (rc < 0) return IoStatus::from_errno(err, "fsync directory", dir);
    return {};
  }

  IoStatus make_dir(const std::string& dir, bool* created) override {
    *created = false;
    if (::mkdir(dir.c_str(), 0755) == 0) {
      *created = true;
      return {};
    }
    if (errno != EEXIST) return IoStatus::from_errno(errno, "mkdir", dir);
    struct stat st {};
    if (::stat(dir.c_str(), &st) < 0) return IoStatus::from_errno(errno, "stat", dir);
    if (!S_ISDIR(st.st_mode)) return IoStatus::from_errno(ENOTDIR, "mkdir", dir);
    return {};
  }

  IoStatus lock(const std::string& path, std::unique_ptr<FileLock>* out) override {
    int fd = open_retrying(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IoStatus::from_errno(errno, "open lock file", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK)
        return IoStatus::failure(Status::storage_error,
                                 "lock " + path + ": held by another process");
      return IoStatus::from_errno(err, "flock", path);
    }
    *out = std::make_unique<PosixLock>(fd);
    return {};
  }
};

}  // namespace

FileSystem& posix_file_system() {
  static PosixFileSystem fs;
  return fs;
}

}  // namespace synod
