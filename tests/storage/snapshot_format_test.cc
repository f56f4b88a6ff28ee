// The snapshot record and the snapshot file header: what is encoded decodes
// back, and damage is caught.
#include "snapshot_format.h"

#include <doctest/doctest.h>

#include <vector>

#include "record_format.h"
#include "snapshot_test_util.h"

using namespace synod;
using namespace synod::storage;

TEST_CASE("a snapshot record decodes to what it encoded, and every bit of it is checked") {
  SnapshotRecord rec{Slot{500}, Ballot{7, NodeId{2}}, Slot{401}, 123456789, 0xdeadbeef};
  std::vector<std::byte> buf;
  append_snapshot(buf, rec, 12, true);
  CHECK(buf.size() == kSnapshotRecordBytes);
  DecodedRecord r;
  REQUIRE(decode_record(buf, &r) == DecodeStatus::ok);
  CHECK(r.header.type == RecordType::snapshot);
  CHECK(r.header.batch == 12);
  CHECK(r.header.batch_end());
  CHECK(snapshot_record_of(r) == rec);
  for (std::size_t bit = 0; bit < buf.size() * 8; ++bit) {
    std::vector<std::byte> bad = buf;
    bad[bit / 8] ^= std::byte(1u << (bit % 8));
    INFO("bit " << bit);
    CHECK(decode_record(bad, &r) != DecodeStatus::ok);
  }
}

TEST_CASE("a snapshot record with keep_from past slot + 1 or at slot 0 does not parse") {
  DecodedRecord r;
  std::vector<std::byte> ok;
  append_snapshot(ok, SnapshotRecord{Slot{9}, {}, Slot{10}, 1, 1}, 1, true);
  CHECK(decode_record(ok, &r) == DecodeStatus::ok);
  std::vector<std::byte> past;
  append_snapshot(past, SnapshotRecord{Slot{9}, {}, Slot{11}, 1, 1}, 1, true);
  CHECK(decode_record(past, &r) == DecodeStatus::bad_payload);
  std::vector<std::byte> zero;
  append_snapshot(zero, SnapshotRecord{Slot{0}, {}, Slot{0}, 1, 1}, 1, true);
  CHECK(decode_record(zero, &r) == DecodeStatus::bad_payload);
  std::vector<std::byte> top;
  append_snapshot(top, SnapshotRecord{Slot{~0ull}, {}, Slot{~0ull}, 1, 1}, 1, true);
  CHECK(decode_record(top, &r) == DecodeStatus::ok);
}

TEST_CASE("snapshot file names hold any slot and nothing else parses") {
  CHECK(snapshot_file_name(Slot{42}) == "snapshot-00000000000000000042.snap");
  Slot s;
  CHECK(parse_snapshot_file_name(snapshot_file_name(Slot{~0ull}), &s));
  CHECK(s == Slot{~0ull});
  CHECK(parse_snapshot_file_name("snapshot-00000000000000000042.snap", &s));
  CHECK(s == Slot{42});
  CHECK(!parse_snapshot_file_name("snapshot-0000000000000000042.snap", &s));
  CHECK(!parse_snapshot_file_name("snapshot-00000000000000000042.snap.tmp", &s));
  CHECK(!parse_snapshot_file_name("snapshot-0000000000000000004x.snap", &s));
  CHECK(!parse_snapshot_file_name("snapshot-99999999999999999999.snap", &s));  // above 2^64
  CHECK(!parse_snapshot_file_name("0000000000000001.log", &s));
}

TEST_CASE("a snapshot file header decodes to its meta, and its CRC covers header and data") {
  Snapshot snap = test::snapshot_at(31, 1000, Ballot{4, NodeId{5}});
  std::uint32_t crc = 0;
  std::vector<std::byte> file = encode_snapshot_header(snap.meta, *snap.data, &crc);
  std::size_t header_bytes = file.size();
  CHECK(header_bytes == kSnapshotFixedBytes + 8 * 6);  // 3 voters, 1 learner, 2 pending voters
  for (char c : *snap.data) file.push_back(std::byte(c));

  SnapshotHeader h;
  std::string why;
  REQUIRE(decode_snapshot_fixed(file, file.size(), &h, &why));
  CHECK(h.header_bytes == header_bytes);
  decode_snapshot_members(std::span(file).first(header_bytes), &h);
  CHECK(h.meta == snap.meta);
  CHECK(h.data_bytes == snap.data->size());
  CHECK(h.crc == crc);
  std::string_view data(reinterpret_cast<const char*>(file.data() + header_bytes),
                        file.size() - header_bytes);
  CHECK(snapshot_crc(std::span(file).first(header_bytes), data) == crc);

  // Any flipped bit is caught: by the header checks or by the CRC.
  for (std::size_t bit = 0; bit < file.size() * 8; bit += 5) {
    std::vector<std::byte> bad = file;
    bad[bit / 8] ^= std::byte(1u << (bit % 8));
    SnapshotHeader b;
    bool caught = !decode_snapshot_fixed(bad, bad.size(), &b, &why);
    if (!caught) {
      std::string_view d(reinterpret_cast<const char*>(bad.data() + b.header_bytes),
                         bad.size() - b.header_bytes);
      caught = snapshot_crc(std::span(bad).first(b.header_bytes), d) != b.crc;
    }
    INFO("bit " << bit);
    CHECK(caught);
  }
  // A length that disagrees with the file is refused before any allocation.
  CHECK(!decode_snapshot_fixed(file, file.size() + 1, &h, &why));
  CHECK(why.find("data bytes") != std::string::npos);
  CHECK(!decode_snapshot_fixed(std::span(file).first(10), file.size(), &h, &why));
}
