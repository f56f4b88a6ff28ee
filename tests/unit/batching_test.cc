// The leader's batches: commands queued by propose() go into slots packed
// greedily by Config::batch_count_max and batch_bytes_max, one block each.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pending_commands.h"
#include "synod/replica.h"
#include "test_cluster.h"

using namespace synod;

TEST_CASE("queued proposals are cut into batches by count and bytes, in order") {
  test::TestCluster t(1, [](Config& c) {
    c.batch_count_max = 3;
    c.batch_bytes_max = 10;
  });
  for (int i = 0; i < 25 && t.leader() != 1; ++i) t.tick_all(1);
  REQUIRE(t.leader() == 1);
  t.settle();
  const std::size_t before = t.at(1).committed.size();
  // Proposed back to back, so all are queued before a slot is assigned.
  const std::vector<std::string> cmds = {"aaaa",
                                         "bbbb",
                                         "cc",  // 3 commands, 10 bytes
                                         "ddddddddd",
                                         "e",  // 10 bytes
                                         "f",
                                         "gg",
                                         "h",  // 3 commands
                                         std::string(10, 'i'),
                                         "",
                                         ""};  // 10 bytes, 3 commands
  std::vector<Ticket> tickets;
  for (const std::string& c : cmds) {
    ProposeResult r = t.node(1).propose(c);
    REQUIRE(r.ok());
    tickets.push_back(r.ticket);
  }
  CHECK(t.node(1).propose(std::string(11, 'x')).status == Status::too_large);
  CHECK(t.node(1).info().pending_proposals == cmds.size());
  t.settle();
  const std::vector<Entry>& committed = t.at(1).committed;
  std::vector<std::vector<std::string>> batches;
  for (std::size_t i = before; i < committed.size(); ++i)
    if (committed[i].value.kind() == ValueKind::commands)
      batches.push_back(committed[i].value.commands().to_strings());
  const std::vector<std::vector<std::string>> want = {
      {"aaaa", "bbbb", "cc"}, {"ddddddddd", "e"}, {"f", "gg", "h"}, {std::string(10, 'i'), "", ""}};
  CHECK(batches == want);
  // Every ticket answered as committed, at its batch's slot and index.
  const std::vector<ProposalOutcome>& out = t.at(1).outcomes;
  REQUIRE(out.size() == tickets.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    CHECK(out[i].ticket == tickets[i]);
    CHECK(out[i].outcome == Outcome::committed);
  }
  CHECK(out[4].index == 1);
  CHECK(out[4].slot == out[3].slot);
  CHECK(out[5].slot.value == out[4].slot.value + 1);
  CHECK(t.node(1).info().pending_proposals == 0);
}

TEST_CASE("a proposer's bytes need live only for the call") {
  test::TestCluster t(1);
  for (int i = 0; i < 25 && t.leader() != 1; ++i) t.tick_all(1);
  REQUIRE(t.leader() == 1);
  {
    std::string scratch = "first";
    REQUIRE(t.node(1).propose(scratch).ok());
    scratch.assign("clobbered");  // the replica copied it already
    REQUIRE(t.node(1).propose(std::string_view(scratch).substr(0, 4)).ok());
  }
  t.settle();
  CHECK(t.at(1).has_command("first"));
  CHECK(t.at(1).has_command("clob"));
  CHECK(!t.at(1).has_command("clobbered"));
}

TEST_CASE("the pending queue cuts the same batches while it is refilled and reclaimed") {
  detail::PendingCommands q;
  std::uint64_t next = 1;
  std::vector<std::string> pushed;
  std::vector<std::string> taken;
  std::vector<std::uint64_t> tickets;
  // Push a few, cut one batch, push more: the cut bytes are dropped from
  // the front while others still wait (reclaim), and the order holds.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 7; ++i) {
      std::string c(static_cast<std::size_t>((round * 7 + i) % 23), static_cast<char>('a' + i));
      c += std::to_string(next);
      q.push(Ticket{next++}, c);
      pushed.push_back(c);
    }
    const Value v = q.take_batch(5, 64, [&](Ticket t) { tickets.push_back(t.value); });
    REQUIRE(!v.commands().empty());
    CHECK(v.commands().size() <= 5);
    CHECK((v.byte_size() <= 64 || v.commands().size() == 1));
    for (std::string_view c : v.commands()) taken.emplace_back(c);
  }
  while (!q.empty()) {
    const Value v = q.take_batch(5, 64, [&](Ticket t) { tickets.push_back(t.value); });
    for (std::string_view c : v.commands()) taken.emplace_back(c);
  }
  CHECK(q.bytes() == 0);
  CHECK(taken == pushed);
  REQUIRE(tickets.size() == pushed.size());
  for (std::size_t i = 0; i < tickets.size(); ++i) CHECK(tickets[i] == i + 1);
}
