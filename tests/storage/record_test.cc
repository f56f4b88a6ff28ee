// The record format: what is encoded decodes back, and any damage is caught.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "log_test_util.h"
#include "record_format.h"

using namespace synod;
using namespace synod::storage;

TEST_CASE("an entry record decodes to the entry it encoded") {
  std::vector<Entry> cases = {
      Entry{Slot{1}, Ballot{2, NodeId{3}}, Value::noop()},
      Entry{Slot{7}, Ballot{9, NodeId{1}},
            Value::of_commands({"set a 1", "", std::string("\0\xff", 2)})},
      Entry{Slot{~0ull}, Ballot{~0ull, NodeId{~0ull}}, Value::of_commands({})},
  };
  for (const Entry& e : cases) {
    std::vector<std::byte> buf;
    append_entry(buf, e, 42, true);
    CHECK(buf.size() == entry_record_bytes(e));
    DecodedRecord r;
    REQUIRE(decode_record(buf, &r) == DecodeStatus::ok);
    CHECK(r.header.type == RecordType::entry);
    CHECK(r.header.batch == 42);
    CHECK(r.header.batch_end());
    CHECK(r.record_bytes == buf.size());
    CHECK(entry_of(r) == e);
  }
}

TEST_CASE("a hard state record keeps the promise, the commit and the voting flag") {
  for (bool voting : {true, false}) {
    HardState hs{Ballot{5, NodeId{2}}, Slot{99}, voting};
    std::vector<std::byte> buf;
    append_hard_state(buf, hs, 3, false);
    DecodedRecord r;
    REQUIRE(decode_record(buf, &r) == DecodeStatus::ok);
    CHECK(hard_state_of(r) == hs);
    CHECK(!r.header.batch_end());
  }
}

TEST_CASE("every bit of a record is covered by its checksum or its header checks") {
  std::vector<std::byte> buf;
  append_entry(buf, test::entry(12, "payload"), 5, true);
  for (std::size_t bit = 0; bit < buf.size() * 8; ++bit) {
    std::vector<std::byte> bad = buf;
    bad[bit / 8] ^= std::byte(1u << (bit % 8));
    DecodedRecord r;
    INFO("bit " << bit);
    CHECK(decode_record(bad, &r) != DecodeStatus::ok);
  }
}

TEST_CASE("zeroed space decodes as never written and a cut record as short") {
  std::vector<std::byte> zeros(100, std::byte{0});
  DecodedRecord r;
  CHECK(decode_record(zeros, &r) == DecodeStatus::zero);
  CHECK(decode_record(std::span(zeros).first(10), &r) == DecodeStatus::zero);
  std::vector<std::byte> buf;
  append_entry(buf, test::entry(1, "some command bytes"), 1, true);
  for (std::size_t n = 1; n < buf.size(); ++n)
    CHECK(decode_record(std::span(buf).first(n), &r) == DecodeStatus::short_read);
}

TEST_CASE("a segment header names its segment") {
  std::vector<std::byte> buf;
  append_segment_header(buf, SegmentHeader{17, 4096}, 8);
  CHECK(buf.size() == kSegmentHeaderRecordBytes);
  DecodedRecord r;
  REQUIRE(decode_record(buf, &r) == DecodeStatus::ok);
  CHECK(segment_header_of(r).segment_seq == 17);
  CHECK(r.header.batch_end());
  CHECK_FALSE(segment_header_of(r).zeroed);
  CHECK(r.header.slot == Slot{0});  // what earlier releases wrote
}

TEST_CASE("a segment header says whether its file was zeroed ahead, where old readers ignore it") {
  std::vector<std::byte> buf;
  append_segment_header(buf, SegmentHeader{18, 4096, true}, 9);
  DecodedRecord r;
  REQUIRE(decode_record(buf, &r) == DecodeStatus::ok);
  CHECK(segment_header_of(r).zeroed);
  CHECK(segment_header_of(r).segment_seq == 18);
  CHECK(segment_header_of(r).segment_bytes == 4096);
  // The header record's slot field, bit 0: covered by the CRC, and no field
  // an earlier release's decoder checks for a segment header.
  CHECK(r.header.slot == Slot{kSegmentZeroedBit});
}

TEST_CASE("a recycled segment's header has format version 2, which earlier releases refuse") {
  std::vector<std::byte> buf;
  append_segment_header(buf, SegmentHeader{19, 4096, false, true}, 10);
  DecodedRecord r;
  REQUIRE(decode_record(buf, &r) == DecodeStatus::ok);
  CHECK(segment_header_of(r).recycled);
  CHECK_FALSE(segment_header_of(r).zeroed);
  CHECK(segment_header_of(r).segment_seq == 19);
  // The payload's version field (after the 8-byte magic), little-endian:
  // an earlier release's decoder accepts version 1 only.
  const std::byte* version = buf.data() + kRecordHeaderBytes + 8;
  CHECK(version[0] == std::byte{2});
  CHECK(kFormatVersionRecycled == 2);
  std::vector<std::byte> plain;
  append_segment_header(plain, SegmentHeader{19, 4096, true}, 10);
  REQUIRE(decode_record(plain, &r) == DecodeStatus::ok);
  CHECK_FALSE(segment_header_of(r).recycled);
  CHECK(plain[kRecordHeaderBytes + 8] == std::byte{1});
}

TEST_CASE("a compaction record keeps its slot") {
  std::vector<std::byte> buf;
  append_compaction(buf, Slot{77}, 9, true);
  DecodedRecord r;
  REQUIRE(decode_record(buf, &r) == DecodeStatus::ok);
  CHECK(r.header.type == RecordType::compaction);
  CHECK(r.header.slot == Slot{77});
}

// Value holds a batch in one block since the record format was set; the
// bytes on disk must not change with it: the header's length, then u32
// count and per command u32 length and bytes (docs/storage.md), checked
// here by hand against the encoder, little-endian as the format says.
TEST_CASE("an entry record's payload is the documented layout, byte for byte") {
  const Entry e{Slot{7}, Ballot{9, NodeId{1}},
                Value::of_commands({"set a 1", "", std::string("\0\xff", 2)})};
  std::vector<std::byte> buf;
  append_entry(buf, e, 42, true);
  const std::vector<std::uint8_t> payload = {3, 0, 0, 0,  // 3 commands
                                             7, 0, 0, 0, 's',  'e', 't', ' ', 'a', ' ', '1',  //
                                             0, 0, 0, 0,                                      // ""
                                             2, 0, 0, 0, 0x00, 0xff};
  REQUIRE(buf.size() == kRecordHeaderBytes + payload.size());
  CHECK(std::uint8_t(buf[0]) == payload.size());  // payload bytes, u32 little-endian
  CHECK(std::uint8_t(buf[1]) == 0);
  CHECK(std::uint8_t(buf[10]) == std::uint8_t(ValueKind::commands));
  for (std::size_t i = 0; i < payload.size(); ++i) {
    INFO("payload byte " << i);
    CHECK(std::uint8_t(buf[kRecordHeaderBytes + i]) == payload[i]);
  }
}
