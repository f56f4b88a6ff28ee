// Snapshots: compaction, install from a peer in chunks, resume after an
// interruption, restart from a stored snapshot, and a candidate behind a
// peer's compaction point. Three replicas (tests/harness) deliver to each
// other at once.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "snapshot_image.h"
#include "test_cluster.h"
#include "test_names.h"

using namespace synod;
using synod::test::numbered;

namespace {

// Three voters of the test-cluster harness; each host's state machine is the
// commands it applied, its snapshot them joined with '\n' (TestNode).
struct Cluster : test::TestCluster {
  explicit Cluster(std::uint64_t tail = 0, std::uint32_t chunk_bytes = 64,
                   std::uint64_t tail_bytes = Config{}.compaction_tail_bytes)
      : TestCluster(3, [tail, chunk_bytes, tail_bytes](Config& c) {
          c.compaction_tail = tail;
          c.compaction_tail_bytes = tail_bytes;
          c.snapshot_chunk_bytes = chunk_bytes;
        }) {}

  std::size_t chunks() const {
    auto it = sent.find(MessageType::snapshot_chunk);
    return it == sent.end() ? 0 : it->second;
  }
  void propose(int count, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      REQUIRE(node(1).propose(numbered(prefix, i)).ok());
      settle();
    }
  }
  void propose_on(std::uint64_t id, int count, const std::string& prefix) {
    for (int k = 0; k < count; ++k) {
      REQUIRE(node(id).propose(numbered(prefix, k)).ok());
      settle();
    }
    tick_all(3);
  }
  // Restarts node `id` from its storage, its host's state machine applied up
  // to `applied` (zero: empty).
  void restart(std::uint64_t id, Slot applied) {
    at(id).config.applied = applied;
    start(id);
  }
};

Cluster led_by_1(std::uint64_t tail = 0, std::uint32_t chunk_bytes = 64,
                 std::uint64_t tail_bytes = Config{}.compaction_tail_bytes) {
  Cluster c(tail, chunk_bytes, tail_bytes);
  c.node(1).campaign();
  c.settle();
  REQUIRE(c.node(1).info().role == Role::leader);
  return c;
}

}  // namespace

TEST_CASE("compact refuses slots not applied or not above the snapshot") {
  Cluster c = led_by_1();
  c.propose(5, "x");
  Slot applied = c.at(1).applied_slot;
  CHECK(c.node(1).compact(applied.next(), "state") == Status::invalid_argument);
  CHECK(c.node(1).compact(Slot{}, "state") == Status::invalid_argument);
  CHECK(c.compact(1) == Status::ok);
  CHECK(c.node(1).compact(applied, "again") == Status::invalid_argument);
  CHECK(c.node(1).info().snapshot == applied);
}

TEST_CASE("compaction saves the snapshot and keeps the configured tail") {
  Cluster c = led_by_1(/*tail=*/3);
  c.propose(10, "x");
  Slot s = c.at(1).applied_slot;
  REQUIRE(c.compact(1) == Status::ok);
  c.settle();
  Snapshot stored = c.at(1).storage.snapshot();
  CHECK(stored.meta.slot == s);
  CHECK(*stored.data == c.at(1).image());
  CHECK(stored.meta.membership.voters.size() == 3);
  std::vector<Entry> kept = c.at(1).storage.entries();
  REQUIRE(!kept.empty());
  CHECK(kept.front().slot == Slot{s.value + 1 - 3});
  CHECK(c.node(1).info().first_slot == Slot{s.value + 1 - 3});
  // The replica carries on as before.
  c.propose(3, "y");
  CHECK(c.at(1).commands.size() == 13);
}

TEST_CASE("the kept tail also stops at compaction_tail_bytes of commands, and is counted") {
  // Commands "x0" to "x9", two bytes each, one slot each: with 5 bytes at
  // most, the tail keeps the snapshot's slot and the one below (4 bytes),
  // not the 100 slots compaction_tail allows.
  Cluster c = led_by_1(/*tail=*/100, /*chunk_bytes=*/64, /*tail_bytes=*/5);
  c.propose(10, "x");
  Slot s = c.at(1).applied_slot;
  REQUIRE(c.compact(1) == Status::ok);
  c.settle();
  std::vector<Entry> kept = c.at(1).storage.entries();
  REQUIRE(!kept.empty());
  CHECK(kept.front().slot == s.prev());
  CHECK(c.node(1).info().first_slot == s.prev());
  CHECK(c.node(1).info().compactions_cut_by_bytes == 1);
  // A slot larger than the limit is not kept at all; the count goes on.
  c.propose(1, "longer than five bytes ");
  Slot s2 = c.at(1).applied_slot;
  REQUIRE(c.compact(1) == Status::ok);
  c.settle();
  CHECK(c.node(1).info().first_slot == s2.next());
  CHECK(c.node(1).info().compactions_cut_by_bytes == 2);
  // The replica carries on, and its peers (not compacted) are not cut.
  c.propose(3, "y");
  CHECK(c.at(1).commands.size() == 14);
  CHECK(c.node(2).info().compactions_cut_by_bytes == 0);
}

TEST_CASE("with no byte limit, or one not reached, the slot count alone sets the tail") {
  for (std::uint64_t tail_bytes : {std::uint64_t{0}, std::uint64_t{1000}}) {
    CAPTURE(tail_bytes);
    Cluster c = led_by_1(/*tail=*/3, /*chunk_bytes=*/64, tail_bytes);
    c.propose(10, "x");
    Slot s = c.at(1).applied_slot;
    REQUIRE(c.compact(1) == Status::ok);
    c.settle();
    CHECK(c.node(1).info().first_slot == Slot{s.value + 1 - 3});
    CHECK(c.node(1).info().compactions_cut_by_bytes == 0);
  }
}

TEST_CASE("a follower behind the compaction point installs the snapshot in chunks") {
  Cluster c = led_by_1(/*tail=*/0, /*chunk_bytes=*/16);
  NodeId cut{3};
  c.deliver = [&](const Message& m) { return m.to != cut && m.from != cut; };
  c.propose(40, "cmd");
  REQUIRE(c.compact(1) == Status::ok);
  REQUIRE(c.compact(2) == Status::ok);
  c.settle();
  CHECK(c.node(3).info().commit < c.node(1).info().first_slot);
  c.deliver = [](const Message&) { return true; };
  c.propose(2, "after");
  c.tick_all(30);
  CHECK(c.at(3).restores.size() == 1);
  CHECK(c.chunks() > 4);  // the image is far larger than 16 bytes
  CHECK(c.at(3).commands == c.at(1).commands);
  CHECK(c.node(3).info().commit == c.node(1).info().commit);
  CHECK(c.node(3).info().snapshot.value > 0);
  CHECK(c.at(3).storage.snapshot().meta.slot == c.node(3).info().snapshot);
  // It votes as before: the cluster keeps committing with node 2 cut.
  cut = NodeId{2};
  c.deliver = [&](const Message& m) { return m.to != cut && m.from != cut; };
  c.propose(3, "later");
  c.tick_all(3);
  CHECK(c.at(3).commands == c.at(1).commands);
}

TEST_CASE("an interrupted install resumes from the bytes already held") {
  Cluster c = led_by_1(/*tail=*/0, /*chunk_bytes=*/8);
  bool cut3 = true;
  c.deliver = [&](const Message& m) { return !cut3 || (m.to != NodeId{3} && m.from != NodeId{3}); };
  c.propose(30, "cmd");
  REQUIRE(c.compact(1) == Status::ok);
  REQUIRE(c.compact(2) == Status::ok);
  // Let a few chunks through, then cut the link in the middle of the install.
  cut3 = false;
  std::size_t allowed = 5;
  std::uint64_t resumed_at = 0;
  c.deliver = [&](const Message& m) {
    if (m.type == MessageType::snapshot_chunk && m.to == NodeId{3}) {
      if (allowed == 0) return false;
      --allowed;
    }
    if (m.type == MessageType::catchup_request && m.from == NodeId{3} && m.offset > 0 &&
        allowed == 0 && resumed_at == 0)
      resumed_at = m.offset;
    return true;
  };
  c.tick_all(5);
  CHECK(c.node(3).info().installing.value > 0);
  CHECK(c.node(3).info().installing_bytes > 0);
  allowed = 1000;
  c.tick_all(40);
  CHECK(resumed_at > 0);  // asked again from where it stopped, not from 0
  CHECK(c.at(3).restores.size() == 1);
  CHECK(c.at(3).commands == c.at(1).commands);
}

TEST_CASE("a sender keeps a slow receiver's snapshot across its own compactions") {
  Cluster c = led_by_1(/*tail=*/0, /*chunk_bytes=*/8);
  bool cut3 = true;
  c.deliver = [&](const Message& m) { return !cut3 || (m.to != NodeId{3} && m.from != NodeId{3}); };
  c.propose(20, "a");
  REQUIRE(c.compact(1) == Status::ok);
  REQUIRE(c.compact(2) == Status::ok);
  cut3 = false;
  // Every chunk delivered to node 3 is followed by a new compaction on the
  // senders: a transfer that restarted on each would never end.
  int compactions = 0;
  c.deliver = [&](const Message& m) {
    if (m.type == MessageType::snapshot_chunk && m.to == NodeId{3} && compactions < 200) {
      REQUIRE(c.node(1).propose(numbered("b", compactions)).ok());
      ++compactions;
    }
    return true;
  };
  for (int i = 0; i < 60 && c.at(3).restores.size() == 0; ++i) {
    c.tick_all(1);
    (void)c.compact(1);
    (void)c.compact(2);
  }
  CHECK(c.at(3).restores.size() >= 1);
  c.deliver = [](const Message&) { return true; };
  c.tick_all(30);
  CHECK(c.at(3).commands == c.at(1).commands);
}

TEST_CASE("a restarted replica restores its stored snapshot before the entries after it") {
  Cluster c = led_by_1(/*tail=*/2);
  c.propose(8, "x");
  REQUIRE(c.compact(2) == Status::ok);
  std::size_t in_snapshot = c.at(2).commands.size();
  c.propose(4, "y");
  std::vector<std::string> before = c.at(2).commands;
  c.at(2).restores.clear();
  c.restart(2, Slot{});  // an empty state machine
  c.drain(2);
  CHECK(c.at(2).restores.size() == 1);
  CHECK(c.at(2).commands == before);
  // A host whose state machine survived (applied at the snapshot or later)
  // gets no restore.
  Slot snap = c.node(2).info().snapshot;
  c.at(2).restores.clear();
  c.at(2).commands.resize(in_snapshot);
  c.at(2).applied_slot = snap;
  c.restart(2, snap);
  c.drain(2);
  CHECK(c.at(2).restores.size() == 0);
  CHECK(c.at(2).commands == before);
}

TEST_CASE("a candidate behind a peer's compaction point catches up before it leads") {
  Cluster c = led_by_1(/*tail=*/0);
  NodeId cut{3};
  c.deliver = [&](const Message& m) { return m.to != cut && m.from != cut; };
  c.propose(20, "x");
  REQUIRE(c.compact(1) == Status::ok);
  REQUIRE(c.compact(2) == Status::ok);
  Slot compacted = c.node(2).info().first_slot.prev();
  // Node 1 goes away; node 3 comes back and campaigns at once. Node 2's
  // promise starts above what node 3 holds, so node 3 installs the snapshot
  // before it leads, and never re-proposes a compacted slot.
  cut = NodeId{1};
  bool led_early = false;
  c.deliver = [&](const Message& m) {
    if (m.to == cut || m.from == cut) return false;
    if (m.from == NodeId{3} && m.type == MessageType::accept && m.entries.front().slot <= compacted)
      led_early = true;
    return true;
  };
  c.node(3).campaign();
  c.settle();
  c.tick_all(30);
  CHECK_FALSE(led_early);
  CHECK(c.at(3).restores.size() == 1);
  CHECK(c.at(3).commands == c.at(2).commands);
  bool someone_leads =
      c.node(2).info().role == Role::leader || c.node(3).info().role == Role::leader;
  CHECK(someone_leads);
  c.propose_on(c.node(2).info().role == Role::leader ? 2 : 3, 2, "y");
  CHECK(c.at(3).commands == c.at(2).commands);
}

TEST_CASE("a snapshot image round-trips and a damaged one is refused") {
  SnapshotMeta meta{Slot{42}, Ballot{7, NodeId{2}}, Membership{{NodeId{1}, NodeId{2}}, {NodeId{9}}},
                    Membership{{NodeId{1}, NodeId{3}}, {}}, Slot{60}};
  Snapshot snap = Snapshot::of(meta, std::string(1000, 'z'));
  std::string trailer = detail::encode_trailer(meta, *snap.data);
  std::string image;
  for (std::uint64_t off = 0;; off += 37) {
    std::string part = detail::image_bytes(snap, trailer, off, 37);
    if (part.empty()) break;
    image += part;
  }
  auto back = detail::decode_image(image);
  REQUIRE(back.has_value());
  CHECK(back->meta == meta);
  CHECK(*back->data == *snap.data);
  CHECK_FALSE(detail::decode_image(image.substr(0, image.size() - 1)).has_value());
  std::string bad = image;
  bad[bad.size() - 8] ^= 0x40;  // the metadata's length
  CHECK_FALSE(detail::decode_image(bad).has_value());
  CHECK_FALSE(detail::decode_image("").has_value());
  // Bytes of another image of the same size, spliced in front: refused.
  std::string spliced = image;
  spliced[0] = 'y';
  CHECK_FALSE(detail::decode_image(spliced).has_value());
}
