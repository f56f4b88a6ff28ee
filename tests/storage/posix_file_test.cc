// File::write_uncached on the real file system: the bytes land where asked
// whatever the alignment, the whole blocks bypass the page cache (checked
// with mincore where the file system keeps a page cache apart from its
// storage), and chunks that end part way into a block join up.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "real_dir.h"
#include "synod/file_system.h"

using namespace synod;
using synod::test::RealTempDir;
using synod::test::resident_pages;

namespace {

std::vector<std::byte> pattern(std::size_t n) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = std::byte(static_cast<unsigned char>(i * 7 + i / 4096));
  return out;
}

}  // namespace

TEST_CASE("File::write_uncached on the real file system: every byte where asked, blocks uncached") {
  RealTempDir dir;
  FileSystem& fs = posix_file_system();
  const std::string path = dir.path + "/f";
  constexpr std::size_t kAt = 100;  // unaligned: a partial block in front
  const std::vector<std::byte> data = pattern((3u << 20) + 5000);  // and behind
  std::unique_ptr<File> f;
  REQUIRE(fs.open(path, OpenMode::create_new, &f).ok());
  // Two calls, the first ending part way into a block (as paced chunks of
  // a snapshot whose header is not a whole block would).
  const std::size_t split = (1u << 20) + 37;
  REQUIRE(f->write_uncached(kAt, std::span(data).first(split)).ok());
  REQUIRE(f->write_uncached(kAt + split, std::span(data).subspan(split)).ok());
  REQUIRE(f->sync_data().ok());
  std::uint64_t size = 0;
  REQUIRE(f->size(&size).ok());
  CHECK(size == kAt + data.size());
  if (!dir.on_tmpfs()) {
    // Of the 769 pages, the partial ones at either end, and the one where
    // the first call ended, are the most that went through the cache.
    std::size_t cached = resident_pages(path, 0, kAt + data.size());
    INFO(cached << " pages cached");
    CHECK(cached <= 4);
  } else {
    MESSAGE("tmpfs: its pages are its storage, so residency says nothing here");
  }
  std::vector<std::byte> got(kAt + data.size());
  std::size_t n = 0;
  REQUIRE(f->read_at(0, got, &n).ok());
  REQUIRE(n == got.size());
  CHECK(std::vector<std::byte>(got.begin(), got.begin() + kAt) == std::vector<std::byte>(kAt));
  CHECK(std::vector<std::byte>(got.begin() + kAt, got.end()) == data);
  f.reset();
}
