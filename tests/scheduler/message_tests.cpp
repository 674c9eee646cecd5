// Message codec (CURVECP.md 6.1, 6.2): golden bytes, round trips, malformed input, and
// the window-extension marker (docs/EXTENSIONS.md).
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "core/rng.h"
#include "scheduler/message.h"
#include "scheduler/window_extension.h"

using namespace curvecp;

namespace {

std::vector<uint8_t> hex_bytes(const char* hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
    auto nib = [](char c) { return static_cast<uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10); };
    out.push_back(static_cast<uint8_t>(nib(hex[i]) << 4 | nib(hex[i + 1])));
  }
  return out;
}

}  // namespace

TEST_CASE("message: the reference's first data message parses (captured from curvecpmessage -c)") {
  // Framed output of `curvecpmessage -c sh -c 'printf hello >&7'` on fd 9: length byte
  // 0x0c (12 * 16 = 192 bytes), ID 1, no acknowledgement, D = 5 at offset 0, data at the end.
  std::vector<uint8_t> msg(192, 0);
  msg[0] = 0x01;
  msg[38] = 0x05;
  std::memcpy(msg.data() + 187, "hello", 5);
  Message m;
  REQUIRE(parse_message(msg, m) == ParseResult::ok);
  CHECK(m.id == 1);
  CHECK(m.ack.acked_id == 0);
  CHECK(m.ack.range1 == 0);
  CHECK(m.offset == 0);
  CHECK(m.end == StreamEnd::none);
  REQUIRE(m.data.size() == 5);
  CHECK(std::memcmp(m.data.data(), "hello", 5) == 0);
  CHECK(m.padding.size() == 192 - 48 - 5);
  CHECK_FALSE(parse_window_extension(m.padding).has_value());

  // And our encoder produces exactly those bytes.
  std::vector<uint8_t> out(1088, 0xee);
  MessageFields f;
  f.id = 1;
  CHECK(encode_message(f, ascii("hello"), message_size_for_data(5), out) == 192);
  CHECK(std::memcmp(out.data(), msg.data(), 192) == 0);
}

TEST_CASE("message: golden bytes of a full header with ranges, flags and offset") {
  MessageFields f;
  f.id = 0x04030201;
  f.ack.acked_id = 0x08070605;
  f.ack.range1 = 0x100f0e0d0c0b0a09ull;
  f.ack.gap1 = 0x14131211;
  f.ack.ranges = {0x1615, 0x1a19, 0x1e1d, 0x2221, 0x2625};
  f.ack.gaps = {0x1817, 0x1c1b, 0x201f, 0x2423};
  f.offset = 0x302f2e2d2c2b2a29ull;
  f.end = StreamEnd::succ;
  std::vector<uint8_t> out(1088);
  const uint8_t data[3] = {0xaa, 0xbb, 0xcc};
  REQUIRE(encode_message(f, Bytes(data, 3), 192, out) == 192);
  const auto golden = hex_bytes(
      "0102030405060708090a0b0c0d0e0f10111213141516171819"
      "1a1b1c1d1e1f20212223242526" "0308" "292a2b2c2d2e2f30");
  REQUIRE(golden.size() == 48);
  CHECK(std::memcmp(out.data(), golden.data(), 48) == 0);
  for (size_t i = 48; i < 189; ++i) CHECK(out[i] == 0);
  CHECK(out[189] == 0xaa);
  CHECK(out[191] == 0xcc);

  Message m;
  REQUIRE(parse_message(Bytes(out.data(), 192), m) == ParseResult::ok);
  CHECK(m.id == f.id);
  CHECK(m.ack.acked_id == f.ack.acked_id);
  CHECK(m.ack.range1 == f.ack.range1);
  CHECK(m.ack.gap1 == f.ack.gap1);
  CHECK(m.ack.ranges == f.ack.ranges);
  CHECK(m.ack.gaps == f.ack.gaps);
  CHECK(m.offset == f.offset);
  CHECK(m.end == StreamEnd::succ);
  CHECK(m.size_flags == (3 | kMessageSucc));
  CHECK(m.data.size() == 3);
}

TEST_CASE("message: sizes follow the reference (64 + D rounded up to 192/320/576/1088)") {
  CHECK(message_size_for_data(0) == 192);
  CHECK(message_size_for_data(128) == 192);
  CHECK(message_size_for_data(129) == 320);
  CHECK(message_size_for_data(256) == 320);
  CHECK(message_size_for_data(257) == 576);
  CHECK(message_size_for_data(512) == 576);
  CHECK(message_size_for_data(513) == 1088);
  CHECK(message_size_for_data(1024) == 1088);
  // Every such size leaves room for the 16-byte window marker.
  for (size_t d = 0; d <= 1024; ++d) CHECK(message_size_for_data(d) - 48 - d >= kWindowExtensionBytes);
}

TEST_CASE("message: round trips of random fields, every data length, both EOF flags") {
  SeededRng rng(7);
  std::vector<uint8_t> out(1088), data(1024);
  for (size_t d = 0; d <= 1024; d += 1 + d / 7) {
    MessageFields f;
    f.id = static_cast<uint32_t>(rng.next());
    f.ack.acked_id = static_cast<uint32_t>(rng.next());
    f.ack.range1 = rng.next();
    f.ack.gap1 = static_cast<uint32_t>(rng.next());
    for (auto& r : f.ack.ranges) r = static_cast<uint16_t>(rng.next());
    for (auto& g : f.ack.gaps) g = static_cast<uint16_t>(rng.next());
    f.offset = rng.next() >> 1;
    f.end = d % 3 == 0 ? StreamEnd::none : d % 3 == 1 ? StreamEnd::succ : StreamEnd::fail;
    rng.fill(std::span<uint8_t>(data.data(), d));
    const size_t size = message_size_for_data(d);
    REQUIRE(encode_message(f, Bytes(data.data(), d), size, out) == size);
    Message m;
    REQUIRE(parse_message(Bytes(out.data(), size), m) == ParseResult::ok);
    CHECK(m.id == f.id);
    CHECK(m.ack.range1 == f.ack.range1);
    CHECK(m.ack.ranges == f.ack.ranges);
    CHECK(m.ack.gaps == f.ack.gaps);
    CHECK(m.offset == f.offset);
    CHECK(m.end == f.end);
    CHECK(bytes_equal(m.data, Bytes(data.data(), d)));
  }
}

TEST_CASE("message: malformed messages are rejected cleanly") {
  std::vector<uint8_t> msg(1104, 0);
  Message m;
  CHECK(parse_message(Bytes(msg.data(), 0), m) == ParseResult::bad_length);
  CHECK(parse_message(Bytes(msg.data(), 32), m) == ParseResult::bad_length);
  CHECK(parse_message(Bytes(msg.data(), 47), m) == ParseResult::bad_length);
  CHECK(parse_message(Bytes(msg.data(), 200), m) == ParseResult::bad_length);   // not 16k
  CHECK(parse_message(Bytes(msg.data(), 1104), m) == ParseResult::bad_length);  // > 1088
  CHECK(parse_message(Bytes(msg.data(), 48), m) == ParseResult::ok);
  CHECK(parse_message(Bytes(msg.data(), 1088), m) == ParseResult::ok);

  // D > 1024.
  store_le16(msg.data() + 38, 1025);
  store_le32(msg.data() + 4, 77);
  CHECK(parse_message(Bytes(msg.data(), 1088), m) == ParseResult::bad_data);
  CHECK(m.ack.acked_id == 77);  // the acknowledgement part is still usable
  // 48 + D > len.
  store_le16(msg.data() + 38, 145);
  CHECK(parse_message(Bytes(msg.data(), 192), m) == ParseResult::bad_data);
  store_le16(msg.data() + 38, 144);
  CHECK(parse_message(Bytes(msg.data(), 192), m) == ParseResult::ok);
  // Bits 13..15 set.
  store_le16(msg.data() + 38, 0x2000 | 10);
  CHECK(parse_message(Bytes(msg.data(), 192), m) == ParseResult::bad_data);
  // Offset + D overflows.
  store_le16(msg.data() + 38, 10);
  store_le64(msg.data() + 40, UINT64_MAX - 5);
  CHECK(parse_message(Bytes(msg.data(), 192), m) == ParseResult::bad_data);
  store_le64(msg.data() + 40, UINT64_MAX - 10);
  CHECK(parse_message(Bytes(msg.data(), 192), m) == ParseResult::ok);
  // FAIL wins over SUCC.
  store_le16(msg.data() + 38, kMessageSucc | kMessageFail);
  CHECK(parse_message(Bytes(msg.data(), 192), m) == ParseResult::ok);
  CHECK(m.end == StreamEnd::fail);
}

TEST_CASE("message: acknowledgement ranges chain and stop before overflowing") {
  AckFields a;
  a.range1 = 1000;
  a.gap1 = 24;
  a.ranges = {100, 0, 5, 0, 0};
  a.gaps = {10, 0, 0, 0};
  std::array<AckRange, 6> r;
  REQUIRE(decode_ack_ranges(a, r) == 6);
  CHECK(r[0].start == 0);
  CHECK(r[0].stop == 1000);
  CHECK(r[1].start == 1024);
  CHECK(r[1].stop == 1124);
  CHECK(r[2].start == 1134);
  CHECK(r[2].stop == 1134);
  CHECK(r[3].start == 1134);
  CHECK(r[3].stop == 1139);

  a.range1 = UINT64_MAX - 3;
  a.gap1 = 2;
  a.ranges = {10, 0, 0, 0, 0};
  CHECK(decode_ack_ranges(a, r) == 1);
}

TEST_CASE("window extension: marker round trip, and zero padding is no marker") {
  std::vector<uint8_t> pad(16, 0);
  CHECK_FALSE(parse_window_extension(pad).has_value());
  REQUIRE(write_window_extension(WindowAnnouncement{0x0102030405060708ull}, pad));
  CHECK(pad[0] == 'C');
  CHECK(pad[3] == 'X');
  CHECK(pad[4] == 1);
  CHECK(pad[8] == 0x08);
  auto w = parse_window_extension(pad);
  REQUIRE(w.has_value());
  CHECK(w->max_offset == 0x0102030405060708ull);
  CHECK_FALSE(parse_window_extension(Bytes(pad.data(), 15)).has_value());
  pad[4] = 2;  // unknown version: not ours
  CHECK_FALSE(parse_window_extension(pad).has_value());
  std::vector<uint8_t> small(15);
  CHECK_FALSE(write_window_extension(WindowAnnouncement{1}, small));
}
