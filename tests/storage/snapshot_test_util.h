// Helpers for the snapshot tests: snapshots with recognisable bytes, the
// snapshot files in a log directory, and the state a reopen must find.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "log_test_util.h"
#include "snapshot_format.h"

namespace synod::test {

// A snapshot at slot whose data (bytes long) names the slot.
inline Snapshot snapshot_at(std::uint64_t slot, std::size_t bytes = 300,
                            Ballot ballot = Ballot{2, NodeId{3}}) {
  SnapshotMeta meta{Slot{slot}, ballot, Membership{{NodeId{1}, NodeId{2}, NodeId{3}}, {NodeId{9}}},
                    Membership{{NodeId{1}, NodeId{4}}, {}}, Slot{slot + 5}};
  return Snapshot::of(std::move(meta), command_for(slot, bytes));
}

inline std::string snapshot_path(const TestLog& t, std::uint64_t slot) {
  return t.dir + "/" + storage::snapshot_file_name(Slot{slot});
}

// Names in the log directory that look like snapshot files or their temporaries.
inline std::vector<std::string> snapshot_files(FaultFileSystem& fs, const std::string& dir) {
  std::vector<std::string> names;
  REQUIRE(fs.list(dir, &names).ok());
  std::erase_if(names, [](const std::string& n) { return n.find("snapshot-") != 0; });
  std::sort(names.begin(), names.end());
  return names;
}

inline bool same_snapshot(const Snapshot& a, const Snapshot& b) {
  return a.meta == b.meta && *a.data == *b.data;
}

// Entries from..to, one per slot.
inline std::vector<Entry> entries_between(std::uint64_t from, std::uint64_t to,
                                          std::size_t bytes = 60) {
  std::vector<Entry> out;
  for (std::uint64_t s = from; s <= to; ++s) out.push_back(entry(s, command_for(s, bytes)));
  return out;
}

}  // namespace synod::test
