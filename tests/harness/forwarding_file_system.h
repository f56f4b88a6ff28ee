// Test helpers: a FileSystem and a File that hand every call to another, for
// tests that intercept one or two calls (they derive and override those).
// Header-only, so any test binary may include it (tests/harness).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "synod/file_system.h"

namespace synod::test {

class ForwardingFile : public File {
 public:
  explicit ForwardingFile(std::unique_ptr<File> inner) : inner_(std::move(inner)) {}
  IoStatus read_at(std::uint64_t offset, std::span<std::byte> out, std::size_t* n) override {
    return inner_->read_at(offset, out, n);
  }
  IoStatus write_at(std::uint64_t offset, std::span<const std::byte> data,
                    std::size_t* n) override {
    return inner_->write_at(offset, data, n);
  }
  IoStatus sync_data() override { return inner_->sync_data(); }
  IoStatus truncate(std::uint64_t size) override { return inner_->truncate(size); }
  IoStatus allocate(std::uint64_t size) override { return inner_->allocate(size); }
  IoStatus size(std::uint64_t* size) override { return inner_->size(size); }
  IoStatus start_writeback(std::uint64_t offset, std::uint64_t bytes) override {
    return inner_->start_writeback(offset, bytes);
  }
  // write_zeros and write_uncached are not handed on: File's defaults
  // write through write_at, where a test that intercepts writes sees them.

 private:
  std::unique_ptr<File> inner_;
};

class ForwardingFileSystem : public FileSystem {
 public:
  explicit ForwardingFileSystem(FileSystem& inner) : inner_(inner) {}
  IoStatus open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override {
    return inner_.open(path, mode, out);
  }
  IoStatus list(const std::string& dir, std::vector<std::string>* names) override {
    return inner_.list(dir, names);
  }
  IoStatus rename(const std::string& from, const std::string& to) override {
    return inner_.rename(from, to);
  }
  IoStatus remove(const std::string& path) override { return inner_.remove(path); }
  IoStatus sync_dir(const std::string& dir) override { return inner_.sync_dir(dir); }
  IoStatus make_dir(const std::string& dir, bool* created) override {
    return inner_.make_dir(dir, created);
  }
  IoStatus lock(const std::string& path, std::unique_ptr<FileLock>* out) override {
    return inner_.lock(path, out);
  }

 private:
  FileSystem& inner_;
};

}  // namespace synod::test
