// Receive reassembly and acknowledgement ranges, the send block table, and the rings.
#include <doctest/doctest.h>

#include <vector>

#include "scheduler/byte_ring.h"
#include "scheduler/indexed_ring.h"
#include "scheduler/receive_buffer.h"
#include "scheduler/send_buffer.h"

using namespace curvecp;

namespace {

std::vector<uint8_t> span_of(uint64_t offset, size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((offset + i) * 7);
  return v;
}

ReceiveBuffer::Store put(ReceiveBuffer& rb, uint64_t offset, size_t n, StreamEnd end = StreamEnd::none) {
  auto v = span_of(offset, n);
  return rb.store(offset, v, end);
}

}  // namespace

TEST_CASE("byte ring: grows lazily, keeps live bytes across growth and wrap") {
  ByteRing ring(100'000);
  CHECK(ring.capacity() == 0);
  CHECK(ring.max_capacity() == 131072);
  REQUIRE(ring.ensure(0, 0, 1000));
  CHECK(ring.capacity() == 16384);
  const uint64_t base = ring.capacity() - 100;  // the live span wraps the first buffer
  auto data = span_of(base, 500);
  ByteRing r2(1 << 20);
  REQUIRE(r2.ensure(base, base, base + 500));
  r2.write(base, data);
  REQUIRE(r2.ensure(base, base + 500, base + 200'000));  // grows, moving the wrapped bytes
  std::vector<uint8_t> back(500);
  r2.read(base, back);
  CHECK(back == data);
  CHECK_FALSE(r2.ensure(base, base + 500, base + (2 << 20)));
}

TEST_CASE("indexed ring: keys, wrap, growth and bound") {
  IndexedRing<int> r(100);
  r.reset_keys(1000);
  for (int i = 0; i < 128; ++i) REQUIRE(r.push_back(i));
  CHECK(r.full());
  CHECK_FALSE(r.push_back(1));
  CHECK(r.at(1000 + 77) == 77);
  for (int i = 0; i < 50; ++i) r.pop_front();
  for (int i = 0; i < 50; ++i) REQUIRE(r.push_back(1000 + i));
  CHECK(r.front_key() == 1050);
  CHECK(r.at(1050) == 50);
  CHECK(r.at(r.back_key() - 1) == 1049);
}

TEST_CASE("receive buffer: in-order, out-of-order, duplicates, holes closing") {
  ReceiveBuffer rb(1 << 20, 16);
  CHECK(put(rb, 0, 1000) == ReceiveBuffer::Store::stored);
  CHECK(rb.received_prefix() == 1000);
  CHECK(put(rb, 2000, 1000) == ReceiveBuffer::Store::stored);
  CHECK(put(rb, 4000, 500) == ReceiveBuffer::Store::stored);
  CHECK(rb.has_holes());
  CHECK(put(rb, 2100, 100) == ReceiveBuffer::Store::duplicate);
  CHECK(put(rb, 0, 10) == ReceiveBuffer::Store::duplicate);
  CHECK(rb.covered(2000, 1000));
  CHECK(rb.covered(3000, 0));  // empty block at the edge of received data
  CHECK_FALSE(rb.covered(2900, 200));

  AckFields a = rb.ack_fields();
  CHECK(a.range1 == 1000);
  // Newest data is [4000, 4500): ranges ascend, the lower interval comes first.
  CHECK(a.gap1 == 1000);
  CHECK(a.ranges[0] == 1000);
  CHECK(a.gaps[0] == 1000);
  CHECK(a.ranges[1] == 500);

  CHECK(put(rb, 1000, 1000) == ReceiveBuffer::Store::stored);
  CHECK(rb.received_prefix() == 3000);
  CHECK(put(rb, 2500, 1600) == ReceiveBuffer::Store::stored);  // overlaps both sides
  CHECK(rb.received_prefix() == 4500);
  CHECK_FALSE(rb.has_holes());
  std::vector<uint8_t> out(10000);
  REQUIRE(rb.read(out) == 4500);
  CHECK(std::vector<uint8_t>(out.begin(), out.begin() + 4500) == span_of(0, 4500));
}

TEST_CASE("receive buffer: window and fragmentation bounds refuse data (so it is not acknowledged)") {
  ReceiveBuffer rb(10'000, 4);
  CHECK(put(rb, 9'000, 1'000) == ReceiveBuffer::Store::stored);
  CHECK(put(rb, 9'500, 1'000) == ReceiveBuffer::Store::out_of_window);
  CHECK(put(rb, 1'000, 100) == ReceiveBuffer::Store::stored);
  CHECK(put(rb, 3'000, 100) == ReceiveBuffer::Store::stored);
  CHECK(put(rb, 5'000, 100) == ReceiveBuffer::Store::stored);
  CHECK(put(rb, 7'000, 100) == ReceiveBuffer::Store::too_fragmented);
  CHECK(put(rb, 5'100, 100) == ReceiveBuffer::Store::stored);  // touches an interval: fine
  CHECK(put(rb, 0, 1'000) == ReceiveBuffer::Store::stored);
  CHECK(rb.received_prefix() == 1'100);
  std::vector<uint8_t> out(1'100);
  CHECK(rb.read(out) == 1'100);
  CHECK(rb.window_limit() == 11'100);
  CHECK(put(rb, 10'000, 1'100) == ReceiveBuffer::Store::stored);
}

TEST_CASE("receive buffer: end of stream, range 1 = total + 1, FAIL") {
  ReceiveBuffer rb(1 << 16, 8);
  CHECK(put(rb, 100, 50, StreamEnd::fail) == ReceiveBuffer::Store::stored);
  CHECK(rb.end_known());
  CHECK_FALSE(rb.complete());
  CHECK(rb.ack_fields().range1 == 0);
  CHECK(put(rb, 0, 100) == ReceiveBuffer::Store::stored);
  CHECK(rb.complete());
  CHECK(rb.ack_fields().range1 == 151);
  CHECK_FALSE(rb.finished());
  std::vector<uint8_t> out(1000);
  CHECK(rb.read(out) == 150);
  CHECK(rb.finished());
  CHECK(rb.failed());

  ReceiveBuffer empty(1 << 16, 8);
  CHECK(empty.store(0, {}, StreamEnd::succ) == ReceiveBuffer::Store::stored);
  CHECK(empty.ack_fields().range1 == 1);
  CHECK(empty.finished());
  CHECK_FALSE(empty.failed());
}

TEST_CASE("receive buffer: ranges are clipped to 16 bits, never overstated") {
  ReceiveBuffer rb(1 << 22, 64);
  CHECK(put(rb, 100'000, 200'000) == ReceiveBuffer::Store::stored);
  AckFields a = rb.ack_fields();
  CHECK(a.range1 == 0);
  CHECK(a.ranges[0] == 65535);
  CHECK(a.gap1 == 300'000 - 65535);  // the newest 65535 bytes, ending at the newest data
  CHECK(a.ranges[1] == 0);
}

TEST_CASE("send buffer: blocks, IDs, acks by range and by ID, loss detection, release") {
  SendBuffer sb(1 << 20, 64);
  std::vector<uint8_t> data(10'000, 9);
  REQUIRE(sb.write(data) == 10'000);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 8; ++i) {
    auto s = sb.make_block(1024, 1 << 20, false);
    REQUIRE(s);
    seqs.push_back(*s);
    CHECK(sb.record_transmission(*s, Timestamp{i * 1000}, 1088) == static_cast<uint32_t>(i + 1));
  }
  CHECK(sb.bytes_in_flight() == 8 * 1088);
  // Range 2 covers blocks 2 and 3 exactly; a range ending mid-block does not ack it.
  SendBuffer::AckResult r;
  sb.ack_range(2048, 4096 + 10, r);
  CHECK(r.newly_acked_bytes == 2048);
  CHECK_FALSE(r.has_rtt);
  // ID 6 names block 5's only transmission: an RTT sample.
  SendBuffer::AckResult r2;
  sb.ack_id(6, r2);
  CHECK(r2.has_rtt);
  CHECK(r2.rtt_sent == Timestamp{5000});
  // Transmission 6 acknowledged: 1, 2 are 3+ older and unacknowledged -> lost.
  const auto losses = sb.detect_losses(3);
  CHECK(losses.messages == 2);
  auto lost = sb.next_lost();
  REQUIRE(lost);
  CHECK(*lost == seqs[0]);
  CHECK(sb.record_transmission(*lost, Timestamp{9000}, 1088) == 9);
  CHECK(sb.block(seqs[0]).transmissions == 2);
  // Range 1 releases the front; the released bytes become send space again.
  const size_t space_before = sb.space();
  SendBuffer::AckResult r3;
  sb.ack_prefix(4096, r3);
  sb.release_acked();
  CHECK(sb.acked_offset() == 4096);
  CHECK(sb.space() == space_before + 4096);
  // Block 4 (offset 4096) is still in flight; the oldest transmission is its.
  REQUIRE(sb.oldest_in_flight_time());
  CHECK(*sb.oldest_in_flight_time() == Timestamp{4000});
}

TEST_CASE("send buffer: the end goes in the last block or an empty one, and needs range 1 = total + 1") {
  SendBuffer sb(1 << 16, 64);
  std::vector<uint8_t> data(100, 1);
  REQUIRE(sb.write(data) == 100);
  auto b1 = sb.make_block(1024, 1 << 20, false);
  REQUIRE(b1);
  CHECK(sb.block(*b1).end == StreamEnd::none);
  sb.record_transmission(*b1, Timestamp{0}, 192);
  sb.close(StreamEnd::fail);
  CHECK(sb.end_pending());
  auto b2 = sb.make_block(1024, 1 << 20, false);
  REQUIRE(b2);
  CHECK(sb.block(*b2).length == 0);
  CHECK(sb.block(*b2).end == StreamEnd::fail);
  sb.record_transmission(*b2, Timestamp{0}, 192);
  CHECK_FALSE(sb.make_block(1024, 1 << 20, false));
  SendBuffer::AckResult r;
  sb.ack_prefix(100, r);  // the reference would release the EOF block here (9 item 10)
  sb.release_acked();
  CHECK_FALSE(sb.finished());
  sb.ack_prefix(101, r);
  sb.release_acked();
  CHECK(sb.finished());
}


TEST_CASE("receive buffer: data past the announced end is never readable") {
  ReceiveBuffer rb(1 << 16, 8);
  CHECK(put(rb, 0, 100, StreamEnd::succ) == ReceiveBuffer::Store::stored);
  CHECK(put(rb, 100, 50) == ReceiveBuffer::Store::stored);
  CHECK(rb.readable() == 100);
  std::vector<uint8_t> out(1000);
  CHECK(rb.read(out) == 100);
  CHECK(rb.readable() == 0);
  CHECK(rb.finished());
}

TEST_CASE("send buffer: abort ends with FAIL after the blocked bytes; an end already in a block stays") {
  SendBuffer sb(1 << 16, 64);
  std::vector<uint8_t> data(3000, 1);
  REQUIRE(sb.write(data) == 3000);
  auto b1 = sb.make_block(1024, 1 << 20, false);
  REQUIRE(b1);
  sb.record_transmission(*b1, Timestamp{0}, 1088);
  sb.close(StreamEnd::succ);
  CHECK(sb.abort());
  CHECK(sb.space() == 0);
  CHECK(sb.unblocked_bytes() == 0);
  CHECK(sb.written() == 1024);
  auto b2 = sb.make_block(1024, 1 << 20, false);
  REQUIRE(b2);
  CHECK(sb.block(*b2).offset == 1024);
  CHECK(sb.block(*b2).length == 0);
  CHECK(sb.block(*b2).end == StreamEnd::fail);
  CHECK(sb.abort());  // idempotent

  SendBuffer sent(1 << 16, 64);
  REQUIRE(sent.write(Bytes(data.data(), 100)) == 100);
  sent.close(StreamEnd::succ);
  auto b = sent.make_block(1024, 1 << 20, false);
  REQUIRE(b);
  CHECK(sent.block(*b).end == StreamEnd::succ);
  CHECK_FALSE(sent.abort());
  CHECK(sent.block(*b).end == StreamEnd::succ);
}

TEST_CASE("send buffer: blockless transmissions take IDs that acknowledge nothing") {
  SendBuffer sb(1 << 16, 64);
  std::vector<uint8_t> data(100, 1);
  REQUIRE(sb.write(data) == 100);
  auto b1 = sb.make_block(1024, 1 << 20, false);
  REQUIRE(b1);
  const uint32_t id1 = sb.record_transmission(*b1, Timestamp{0}, 192);
  const uint64_t t2 = sb.record_blockless_transmission();
  CHECK(t2 == id1 + 1u);
  CHECK(sb.transmission_number(static_cast<uint32_t>(t2)) == t2);
  CHECK(sb.transmission_number(id1) == id1);
  SendBuffer::AckResult r;
  sb.ack_id(static_cast<uint32_t>(t2), r);
  CHECK_FALSE(r.acked_something);
  CHECK_FALSE(r.has_rtt);
  CHECK(sb.bytes_in_flight() == 192);
  sb.ack_id(id1, r);
  CHECK(r.acked_something);
}
