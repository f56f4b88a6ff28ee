// Snapshots: compaction, install from a peer in chunks, resume after an
// interruption, restart from a stored snapshot, and a candidate behind a
// peer's compaction point. Three replicas deliver to each other at once.
#include <doctest/doctest.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "snapshot_image.h"
#include "synod/memory_storage.h"
#include "synod/replica.h"
#include "test_names.h"

using namespace synod;
using synod::test::numbered;

namespace {

// A host's state machine: the commands applied, in order. Its snapshot is
// them joined with '\n'.
struct App {
  std::vector<std::string> applied;
  Slot slot{};
  int restores = 0;

  std::string image() const {
    std::string s;
    for (const auto& c : applied) s += c + "\n";
    return s;
  }
  void restore(const Snapshot& snap) {
    applied.clear();
    std::string cur;
    for (char ch : *snap.data) {
      if (ch == '\n') {
        applied.push_back(cur);
        cur.clear();
      } else {
        cur += ch;
      }
    }
    slot = snap.meta.slot;
    ++restores;
  }
};

struct Cluster {
  std::vector<MemoryStorage> storage = std::vector<MemoryStorage>(3);
  std::vector<std::unique_ptr<Replica>> r;
  std::vector<App> app = std::vector<App>(3);
  std::deque<Message> wire;
  // Returns false to lose the message.
  std::function<bool(const Message&)> deliver = [](const Message&) { return true; };
  std::size_t chunks = 0;

  explicit Cluster(std::uint64_t tail = 0, std::uint32_t chunk_bytes = 64) {
    for (std::uint64_t i = 1; i <= 3; ++i) r.push_back(make(i, tail, chunk_bytes, Slot{}));
  }
  static Config config(std::uint64_t id, std::uint64_t tail, std::uint32_t chunk_bytes) {
    Config c;
    c.id = NodeId{id};
    c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
    c.seed = id;
    c.compaction_tail = tail;
    c.snapshot_chunk_bytes = chunk_bytes;
    return c;
  }
  std::unique_ptr<Replica> make(std::uint64_t id, std::uint64_t tail, std::uint32_t chunk_bytes,
                                Slot applied) {
    Config c = config(id, tail, chunk_bytes);
    c.applied = applied;
    return std::make_unique<Replica>(c, storage[id - 1]);
  }
  void drain(std::size_t i) {
    while (r[i]->has_ready()) {
      Ready rd = r[i]->ready();
      if (rd.snapshot) storage[i].save_snapshot(*rd.snapshot, rd.keep_from);
      storage[i].save(rd.hard_state ? &*rd.hard_state : nullptr, rd.entries);
      storage[i].sync();
      for (const Message& m : rd.messages) {
        if (m.type == MessageType::snapshot_chunk) ++chunks;
        wire.push_back(m);
      }
      if (rd.restore) app[i].restore(*rd.restore);
      for (const Entry& e : rd.committed) {
        REQUIRE(e.slot == app[i].slot.next());
        for (const auto& c : e.value.commands()) app[i].applied.push_back(c);
        app[i].slot = e.slot;
      }
      r[i]->advance(rd);
    }
  }
  void settle(int steps = 100000) {
    for (int n = 0; n < steps; ++n) {
      for (std::size_t i = 0; i < 3; ++i) drain(i);
      if (wire.empty()) return;
      Message m = wire.front();
      wire.pop_front();
      if (deliver(m)) r[m.to.value - 1]->step(m);
    }
  }
  void tick_all(int ticks) {
    for (int t = 0; t < ticks; ++t) {
      for (auto& x : r) x->tick();
      settle();
    }
  }
  void propose(int count, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      REQUIRE(r[0]->propose(numbered(prefix, i)).ok());
      settle();
    }
  }
  void propose_on(std::size_t i, int count, const std::string& prefix) {
    for (int k = 0; k < count; ++k) {
      REQUIRE(r[i]->propose(numbered(prefix, k)).ok());
      settle();
    }
    tick_all(3);
  }
  Status compact(std::size_t i) { return r[i]->compact(app[i].slot, app[i].image()); }
};

Cluster led_by_1(std::uint64_t tail = 0, std::uint32_t chunk_bytes = 64) {
  Cluster c(tail, chunk_bytes);
  c.r[0]->campaign();
  c.settle();
  REQUIRE(c.r[0]->info().role == Role::leader);
  return c;
}

}  // namespace

TEST_CASE("compact refuses slots not applied or not above the snapshot") {
  Cluster c = led_by_1();
  c.propose(5, "x");
  Slot applied = c.app[0].slot;
  CHECK(c.r[0]->compact(applied.next(), "state") == Status::invalid_argument);
  CHECK(c.r[0]->compact(Slot{}, "state") == Status::invalid_argument);
  CHECK(c.compact(0) == Status::ok);
  CHECK(c.r[0]->compact(applied, "again") == Status::invalid_argument);
  CHECK(c.r[0]->info().snapshot == applied);
}

TEST_CASE("compaction saves the snapshot and keeps the configured tail") {
  Cluster c = led_by_1(/*tail=*/3);
  c.propose(10, "x");
  Slot s = c.app[0].slot;
  REQUIRE(c.compact(0) == Status::ok);
  c.settle();
  Snapshot stored = c.storage[0].snapshot();
  CHECK(stored.meta.slot == s);
  CHECK(*stored.data == c.app[0].image());
  CHECK(stored.meta.membership.voters.size() == 3);
  std::vector<Entry> kept = c.storage[0].entries();
  REQUIRE(!kept.empty());
  CHECK(kept.front().slot == Slot{s.value + 1 - 3});
  CHECK(c.r[0]->info().first_slot == Slot{s.value + 1 - 3});
  // The replica carries on as before.
  c.propose(3, "y");
  CHECK(c.app[0].applied.size() == 13);
}

TEST_CASE("a follower behind the compaction point installs the snapshot in chunks") {
  Cluster c = led_by_1(/*tail=*/0, /*chunk_bytes=*/16);
  NodeId cut{3};
  c.deliver = [&](const Message& m) { return m.to != cut && m.from != cut; };
  c.propose(40, "cmd");
  REQUIRE(c.compact(0) == Status::ok);
  REQUIRE(c.compact(1) == Status::ok);
  c.settle();
  CHECK(c.r[2]->info().commit < c.r[0]->info().first_slot);
  c.deliver = [](const Message&) { return true; };
  c.propose(2, "after");
  c.tick_all(30);
  CHECK(c.app[2].restores == 1);
  CHECK(c.chunks > 4);  // the image is far larger than 16 bytes
  CHECK(c.app[2].applied == c.app[0].applied);
  CHECK(c.r[2]->info().commit == c.r[0]->info().commit);
  CHECK(c.r[2]->info().snapshot.value > 0);
  CHECK(c.storage[2].snapshot().meta.slot == c.r[2]->info().snapshot);
  // It votes as before: the cluster keeps committing with node 2 cut.
  cut = NodeId{2};
  c.deliver = [&](const Message& m) { return m.to != cut && m.from != cut; };
  c.propose(3, "later");
  c.tick_all(3);
  CHECK(c.app[2].applied == c.app[0].applied);
}

TEST_CASE("an interrupted install resumes from the bytes already held") {
  Cluster c = led_by_1(/*tail=*/0, /*chunk_bytes=*/8);
  bool cut3 = true;
  c.deliver = [&](const Message& m) { return !cut3 || (m.to != NodeId{3} && m.from != NodeId{3}); };
  c.propose(30, "cmd");
  REQUIRE(c.compact(0) == Status::ok);
  REQUIRE(c.compact(1) == Status::ok);
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
  CHECK(c.r[2]->info().installing.value > 0);
  CHECK(c.r[2]->info().installing_bytes > 0);
  allowed = 1000;
  c.tick_all(40);
  CHECK(resumed_at > 0);  // asked again from where it stopped, not from 0
  CHECK(c.app[2].restores == 1);
  CHECK(c.app[2].applied == c.app[0].applied);
}

TEST_CASE("a sender keeps a slow receiver's snapshot across its own compactions") {
  Cluster c = led_by_1(/*tail=*/0, /*chunk_bytes=*/8);
  bool cut3 = true;
  c.deliver = [&](const Message& m) { return !cut3 || (m.to != NodeId{3} && m.from != NodeId{3}); };
  c.propose(20, "a");
  REQUIRE(c.compact(0) == Status::ok);
  REQUIRE(c.compact(1) == Status::ok);
  cut3 = false;
  // Every chunk delivered to node 3 is followed by a new compaction on the
  // senders: a transfer that restarted on each would never end.
  int compactions = 0;
  c.deliver = [&](const Message& m) {
    if (m.type == MessageType::snapshot_chunk && m.to == NodeId{3} && compactions < 200) {
      REQUIRE(c.r[0]->propose(numbered("b", compactions)).ok());
      ++compactions;
    }
    return true;
  };
  for (int i = 0; i < 60 && c.app[2].restores == 0; ++i) {
    c.tick_all(1);
    (void)c.compact(0);
    (void)c.compact(1);
  }
  CHECK(c.app[2].restores >= 1);
  c.deliver = [](const Message&) { return true; };
  c.tick_all(30);
  CHECK(c.app[2].applied == c.app[0].applied);
}

TEST_CASE("a restarted replica restores its stored snapshot before the entries after it") {
  Cluster c = led_by_1(/*tail=*/2);
  c.propose(8, "x");
  REQUIRE(c.compact(1) == Status::ok);
  std::size_t in_snapshot = c.app[1].applied.size();
  c.propose(4, "y");
  std::vector<std::string> before = c.app[1].applied;
  c.r[1] = c.make(2, 2, 64, Slot{});
  c.app[1] = App{};
  c.drain(1);
  CHECK(c.app[1].restores == 1);
  CHECK(c.app[1].applied == before);
  // A host whose state machine survived (applied at the snapshot or later)
  // gets no restore.
  Slot snap = c.r[1]->info().snapshot;
  c.r[1] = c.make(2, 2, 64, snap);
  App kept = c.app[1];
  kept.restores = 0;
  kept.applied.resize(in_snapshot);
  kept.slot = snap;
  c.app[1] = kept;
  c.drain(1);
  CHECK(c.app[1].restores == 0);
  CHECK(c.app[1].applied == before);
}

TEST_CASE("a candidate behind a peer's compaction point catches up before it leads") {
  Cluster c = led_by_1(/*tail=*/0);
  NodeId cut{3};
  c.deliver = [&](const Message& m) { return m.to != cut && m.from != cut; };
  c.propose(20, "x");
  REQUIRE(c.compact(0) == Status::ok);
  REQUIRE(c.compact(1) == Status::ok);
  Slot compacted = c.r[1]->info().first_slot.prev();
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
  c.r[2]->campaign();
  c.settle();
  c.tick_all(30);
  CHECK_FALSE(led_early);
  CHECK(c.app[2].restores == 1);
  CHECK(c.app[2].applied == c.app[1].applied);
  bool someone_leads = c.r[1]->info().role == Role::leader || c.r[2]->info().role == Role::leader;
  CHECK(someone_leads);
  c.propose_on(c.r[1]->info().role == Role::leader ? 1 : 2, 2, "y");
  CHECK(c.app[2].applied == c.app[1].applied);
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
