// Helpers for storage tests on the real file system: a scratch directory
// (emptied and removed at the end) and the page cache's residency of a file.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "synod/file_system.h"

namespace synod::test {

struct RealTempDir {
  std::string path;
  RealTempDir() {
    const char* tmp = std::getenv("TMPDIR");
    path = std::string(tmp ? tmp : "/tmp") + "/synod-real-XXXXXX";
    REQUIRE(::mkdtemp(path.data()) != nullptr);
  }
  ~RealTempDir() {
    std::vector<std::string> names;
    if (posix_file_system().list(path, &names).ok())
      for (const std::string& n : names) (void)posix_file_system().remove(path + "/" + n);
    (void)::rmdir(path.c_str());
  }
  RealTempDir(const RealTempDir&) = delete;
  RealTempDir& operator=(const RealTempDir&) = delete;
  // On tmpfs the pages are the storage: residency says nothing there.
  bool on_tmpfs() const {
    constexpr long kTmpfsMagic = 0x01021994;
    struct statfs st {};
    REQUIRE(::statfs(path.c_str(), &st) == 0);
    return static_cast<long>(st.f_type) == kTmpfsMagic;
  }
};

// Pages of [offset, offset + bytes) of the file at path in the page cache.
inline std::size_t resident_pages(const std::string& path, std::size_t offset, std::size_t bytes) {
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  void* map = ::mmap(nullptr, offset + bytes, PROT_READ, MAP_SHARED, fd, 0);
  REQUIRE(map != MAP_FAILED);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in((offset + bytes + page - 1) / page);
  REQUIRE(::mincore(map, offset + bytes, in.data()) == 0);
  std::size_t n = 0;
  for (std::size_t p = offset / page; p < in.size(); ++p) n += in[p] & 1;
  ::munmap(map, offset + bytes);
  ::close(fd);
  return n;
}

}  // namespace synod::test
