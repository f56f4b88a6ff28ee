// GroupLogWriter: every group's Ready writes saved and made durable on the
// writer thread, one fdatasync per batch across groups, in submission order
// (a removal after the group's writes), reported through the callback.
#include "synod/group_log_writer.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <cerrno>

#include "log_test_util.h"

using namespace synod;
using namespace synod::test;

namespace {

Entry writer_entry(std::uint64_t group, std::uint64_t slot) {
  return entry(slot, fmt::format("g{}-s{}", group, slot));
}

}  // namespace

TEST_CASE("GroupLogWriter: many groups durable in batches of one fdatasync, then reopened") {
  FaultFileSystem fs;
  GroupLogOptions options;
  options.log.file_system = &fs;
  options.log.preallocation = Preallocation::none;
  constexpr std::uint64_t kGroups = 300;
  {
    auto opened = GroupLog::open("/groups", options);
    REQUIRE(opened.ok());
    GroupLog& log = *opened.log;
    std::atomic<std::uint64_t> durable{0};
    std::atomic<int> failures{0};
    GroupLogWriter writer(log, [&](std::uint64_t d, Status st) {
      if (st != Status::ok) ++failures;
      durable.store(d);
    });
    std::uint64_t syncs_before = fs.calls(FsOp::sync_data);
    std::uint64_t last = 0;
    for (std::uint64_t g = 1; g <= kGroups; ++g) {
      HardState hs{Ballot{g, NodeId{1}}, Slot{1}, true};
      std::vector<Entry> es = {writer_entry(g, 1), writer_entry(g, 2)};
      GroupLogWriter::Submitted sub = writer.submit(GroupId{g}, nullptr, Slot{}, &hs, es);
      REQUIRE(sub.ok());
      CHECK(sub.sequence > last);  // sequences ascend across groups
      last = sub.sequence;
    }
    // Group 7's removal comes after its writes.
    REQUIRE(writer.remove_group(GroupId{7}).ok());
    REQUIRE(writer.flush() == Status::ok);
    CHECK(durable.load() >= last + 1);
    CHECK(failures.load() == 0);
    GroupLogWriterStats st = writer.stats();
    CHECK(st.writes == kGroups + 1);
    CHECK(st.batches >= 1);
    CHECK(st.batches <= st.writes);
    // One fdatasync per batch, however many groups each held.
    CHECK(fs.calls(FsOp::sync_data) - syncs_before == st.batches);
    writer.stop();
    CHECK(writer.submit(GroupId{1}, nullptr, Slot{}, nullptr, {}).status == Status::unavailable);
  }
  fs.crash();
  auto reopened = GroupLog::open("/groups", options);
  REQUIRE(reopened.ok());
  GroupLog& log = *reopened.log;
  CHECK(log.groups().size() == kGroups - 1);
  CHECK(!log.has_group(GroupId{7}));
  for (std::uint64_t g : {1u, 8u, 150u, 300u}) {
    INFO("group " << g);
    Storage& s = log.group(GroupId{g});
    CHECK(s.hard_state().promised == Ballot{g, NodeId{1}});
    CHECK(s.entries() == std::vector<Entry>{writer_entry(g, 1), writer_entry(g, 2)});
  }
}

TEST_CASE("GroupLogWriter: a write the log refuses fails the writer for good") {
  FaultFileSystem fs;
  GroupLogOptions options;
  options.log.file_system = &fs;
  options.log.preallocation = Preallocation::none;
  auto opened = GroupLog::open("/groups", options);
  REQUIRE(opened.ok());
  std::atomic<int> reports{0};
  std::atomic<Status> last_status{Status::ok};
  GroupLogWriter writer(*opened.log, [&](std::uint64_t, Status st) {
    ++reports;
    last_status.store(st);
  });
  fs.fail(FsOp::sync_data, EIO);
  std::vector<Entry> es = {writer_entry(1, 1)};
  REQUIRE(writer.submit(GroupId{1}, nullptr, Slot{}, nullptr, es).ok());
  CHECK(writer.flush() == Status::storage_error);
  CHECK(last_status.load() == Status::storage_error);
  CHECK(writer.submit(GroupId{2}, nullptr, Slot{}, nullptr, es).status == Status::storage_error);
  CHECK(reports.load() == 1);
}
