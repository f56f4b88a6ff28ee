// synod-group-log-bench: one GroupLog for many groups, one sync per batch.
// Shows that a node's fdatasyncs do not grow with its number of groups: each
// batch stages one entry and a hard state for every group (or, with
// --per-batch N, for N groups taken in turn), then one sync().
//
//   synod-group-log-bench [--dir DIR] [--seconds S] [--groups 1,100,10000]
//                         [--bytes 64] [--per-batch N]
//
// Per group count it prints batches (= sync() calls), fdatasyncs made by the
// file system (counted by a wrapping FileSystem: batches, segment rolls,
// directory syncs), appends (entries) per second, and the files in the log
// directory at the end.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "synod/group_log.h"

using Clock = std::chrono::steady_clock;
using namespace synod;

namespace {

// Counts fdatasync and directory fsync calls on the way to the real file system.
class CountingFileSystem final : public FileSystem {
 public:
  std::uint64_t data_syncs = 0;
  std::uint64_t dir_syncs = 0;

  IoStatus open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override {
    std::unique_ptr<File> inner;
    IoStatus st = real_.open(path, mode, &inner);
    if (st.ok()) *out = std::make_unique<CountingFile>(std::move(inner), &data_syncs);
    return st;
  }
  IoStatus list(const std::string& dir, std::vector<std::string>* names) override {
    return real_.list(dir, names);
  }
  IoStatus rename(const std::string& from, const std::string& to) override {
    return real_.rename(from, to);
  }
  IoStatus remove(const std::string& path) override { return real_.remove(path); }
  IoStatus sync_dir(const std::string& dir) override {
    ++dir_syncs;
    return real_.sync_dir(dir);
  }
  IoStatus make_dir(const std::string& dir, bool* created) override {
    return real_.make_dir(dir, created);
  }
  IoStatus lock(const std::string& path, std::unique_ptr<FileLock>* out) override {
    return real_.lock(path, out);
  }

 private:
  class CountingFile final : public File {
   public:
    CountingFile(std::unique_ptr<File> inner, std::uint64_t* syncs)
        : inner_(std::move(inner)), syncs_(syncs) {}
    IoStatus read_at(std::uint64_t offset, std::span<std::byte> out, std::size_t* got) override {
      return inner_->read_at(offset, out, got);
    }
    IoStatus write_at(std::uint64_t offset, std::span<const std::byte> data,
                      std::size_t* written) override {
      return inner_->write_at(offset, data, written);
    }
    IoStatus sync_data() override {
      ++*syncs_;
      return inner_->sync_data();
    }
    IoStatus truncate(std::uint64_t size) override { return inner_->truncate(size); }
    IoStatus allocate(std::uint64_t size) override { return inner_->allocate(size); }
    IoStatus size(std::uint64_t* size) override { return inner_->size(size); }

   private:
    std::unique_ptr<File> inner_;
    std::uint64_t* syncs_;
  };
  FileSystem& real_ = posix_file_system();
};

std::vector<std::uint64_t> parse_list(const char* text) {
  std::vector<std::uint64_t> out;
  for (const char* p = text; *p;) {
    char* end = nullptr;
    out.push_back(std::strtoull(p, &end, 10));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

void run(const std::string& base, std::uint64_t groups, double seconds, std::size_t bytes,
         std::uint64_t per_batch) {
  std::string tmpl = base + "/synod-group-log-bench-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  CountingFileSystem fs;
  GroupLogOptions options;
  options.log.file_system = &fs;
  auto opened = GroupLog::open(tmpl + "/log", options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.error.c_str());
    std::exit(1);
  }
  GroupLog& log = *opened.log;
  std::uint64_t syncs_at_start = fs.data_syncs + fs.dir_syncs;
  std::string command(bytes, 'x');
  std::uint64_t batches = 0, appends = 0;
  auto start = Clock::now();
  auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < deadline) {
    ++batches;
    std::uint64_t n = per_batch ? per_batch : groups;
    for (std::uint64_t i = 0; i < n; ++i) {
      // Slots ascend per group: appends is a global counter.
      GroupId g{appends % groups + 1};
      Entry e{Slot{appends + 1}, Ballot{1, NodeId{1}}, Value::of_commands({command})};
      HardState hs{Ballot{1, NodeId{1}}, Slot{appends}, true};
      if (log.save_ready(g, nullptr, Slot{}, &hs, {&e, 1}) != Status::ok) std::exit(1);
      ++appends;
    }
    if (log.sync() != Status::ok) {
      std::fprintf(stderr, "sync: %s\n", log.error().c_str());
      std::exit(1);
    }
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::uint64_t syncs = fs.data_syncs + fs.dir_syncs - syncs_at_start;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(tmpl + "/log"))
    files += entry.is_regular_file() ? 1 : 0;
  std::printf("%8llu %10.0f %13.0f %14.2f %12.0f %6zu\n", static_cast<unsigned long long>(groups),
              double(batches) / elapsed, double(syncs) / elapsed, double(syncs) / double(batches),
              double(appends) / elapsed, files);
  opened.log.reset();
  std::filesystem::remove_all(tmpl);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  double seconds = 2;
  std::vector<std::uint64_t> groups = {1, 100, 10000};
  std::size_t bytes = 64;
  std::uint64_t per_batch = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i];
    if (f == "--dir") {
      dir = argv[i + 1];
    } else if (f == "--seconds") {
      seconds = std::atof(argv[i + 1]);
    } else if (f == "--groups") {
      groups = parse_list(argv[i + 1]);
    } else if (f == "--per-batch") {
      per_batch = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (f == "--bytes") {
      bytes = std::strtoull(argv[i + 1], nullptr, 10);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", f.c_str());
      return 2;
    }
  }
  if (argc % 2 == 0 || seconds <= 0) {
    std::fprintf(stderr,
                 "usage: synod-group-log-bench [--dir DIR] [--seconds S] [--groups 1,100,10000] "
                 "[--bytes 64] [--per-batch N]\n");
    return 2;
  }
  std::string who = per_batch ? std::to_string(per_batch) + " groups in turn" : "every group";
  std::printf(
      "GroupLog in %s, %.1f s per row, a %zu-byte entry with a hard state for %s per "
      "batch, one sync() per batch\n",
      dir.c_str(), seconds, bytes, who.c_str());
  std::printf("%8s %10s %13s %14s %12s %6s\n", "groups", "batches/s", "fdatasyncs/s", "syncs/batch",
              "appends/s", "files");
  for (std::uint64_t g : groups) run(dir, g, seconds, bytes, per_batch);
  return 0;
}
