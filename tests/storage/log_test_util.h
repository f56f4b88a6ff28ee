// Helpers shared by the durable-log tests: a log on the fault-injecting file
// system, entries with recognisable contents, and byte surgery on files.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "synod/fault_file_system.h"
#include "synod/log_storage.h"

namespace synod::test {

inline Entry entry(std::uint64_t slot, std::string command, Ballot ballot = Ballot{1, NodeId{1}}) {
  return Entry{Slot{slot}, ballot, Value::of_commands({std::move(command)})};
}

// A command of `bytes` bytes that names its slot (easy to check after recovery).
inline std::string command_for(std::uint64_t slot, std::size_t bytes) {
  std::string s = "slot-" + std::to_string(slot) + ":";
  while (s.size() < bytes) s.push_back(char('a' + (s.size() + slot) % 26));
  s.resize(bytes);
  return s;
}

// The path of segment `seq` in a log directory.
inline std::string segment_path_in(const std::string& dir, std::uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.log", static_cast<unsigned long long>(seq));
  return dir + "/" + name;
}

// A log directory on an in-memory, fault-injecting file system.
struct TestLog {
  FaultFileSystem fs;
  std::string dir = "/log";
  LogOptions options;

  explicit TestLog(std::uint64_t segment_bytes = 64u << 10,
                   Preallocation prealloc = Preallocation::allocate) {
    options.file_system = &fs;
    options.segment_bytes = segment_bytes;
    options.preallocation = prealloc;
  }

  LogStorage::OpenResult open() { return LogStorage::open(dir, options); }

  // Opens and requires success.
  std::unique_ptr<LogStorage> open_ok() {
    LogStorage::OpenResult r = open();
    INFO(r.error);
    REQUIRE(r.status == Status::ok);
    return std::move(r.storage);
  }

  std::string segment_path(std::uint64_t seq) const { return segment_path_in(dir, seq); }
};

// Polls for a background thread (the spare's, the snapshot thread): no
// timing is asserted, only that it gets there within a generous bound.
inline bool eventually(const std::function<bool()>& pred) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline void save_sync(LogStorage& log, const HardState* hs, std::vector<Entry> entries) {
  REQUIRE(log.save(hs, entries) == Status::ok);
  REQUIRE(log.sync() == Status::ok);
}

inline bool same_entries(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  return a == b;
}

}  // namespace synod::test
