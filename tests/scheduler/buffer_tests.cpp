// Receive reassembly and acknowledgement ranges, the send block table, and the rings.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "scheduler/byte_ring.h"
#include "scheduler/indexed_ring.h"
#include "scheduler/memory_budget.h"
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

TEST_CASE("byte ring: pages follow the data, across wrap and release") {
  MemoryBudget budget(1 << 30);
  ByteRing ring(100'000, &budget);
  CHECK(ring.page_bytes() == ByteRing::kPageBytes);
  CHECK(ring.max_capacity() == 7 * ByteRing::kPageBytes);
  CHECK(ring.allocated_bytes() == 0);
  REQUIRE(ring.ensure(0, 0, 1000));
  CHECK(ring.allocated_bytes() == 0);  // ensure() allocates nothing
  auto a = span_of(0, 1000);
  ring.write(0, a);
  CHECK(ring.allocated_bytes() == ByteRing::kPageBytes);
  CHECK(budget.used_bytes() == ByteRing::kPageBytes);

  // Far-ahead data costs the page it touches, not the span up to it.
  const uint64_t far = ring.max_capacity() - 16;
  REQUIRE(ring.ensure(0, 1000, far + 16));
  auto f = span_of(far, 16);
  ring.write(far, f);
  CHECK(ring.allocated_bytes() == 2 * ByteRing::kPageBytes);
  std::vector<uint8_t> back(16);
  ring.read(far, back);
  CHECK(back == f);
  CHECK_FALSE(ring.ensure(0, far + 16, ring.max_capacity() + 1));

  // Releasing past the first page frees it; the far page stays.
  ring.release(ByteRing::kPageBytes, far + 16);
  CHECK(ring.allocated_bytes() == ByteRing::kPageBytes);
  ring.release(far + 16, far + 16);  // nothing live: everything goes
  CHECK(ring.allocated_bytes() == 0);
  CHECK(budget.used_bytes() == 0);

  // A live span that wraps the slot table keeps its bytes.
  const uint64_t base = 10 * ring.max_capacity() - 100;
  auto data = span_of(base, 60'000);
  ring.write(base, data);
  std::vector<uint8_t> back2(data.size());
  ring.read(base, back2);
  CHECK(back2 == data);
  ring.release(base + 50'000, base + 60'000);
  CHECK(ring.allocated_bytes() <= 2 * ByteRing::kPageBytes);
  std::vector<uint8_t> tail(10'000);
  ring.read(base + 50'000, tail);
  CHECK(std::equal(tail.begin(), tail.end(), data.begin() + 50'000));
}

TEST_CASE("byte ring: small rings use one page of their size; budget follows the ring") {
  MemoryBudget budget(100);
  {
    ByteRing small(1000, &budget);
    CHECK(small.page_bytes() == 1024);
    small.write(5, span_of(5, 10));
    CHECK(budget.used_bytes() == 1024);
    CHECK(budget.exceeded());
  }
  CHECK(budget.used_bytes() == 0);
  CHECK(budget.peak_bytes() == 1024);
}

TEST_CASE("receive buffer: one byte near the top of a 4 MiB window costs one page") {
  MemoryBudget budget(1 << 30);
  ReceiveBuffer rb(4 << 20, 16, &budget);
  CHECK(put(rb, (4 << 20) - 16, 16) == ReceiveBuffer::Store::stored);
  CHECK(rb.allocated_bytes() == ByteRing::kPageBytes);
  CHECK(put(rb, 0, 100) == ReceiveBuffer::Store::stored);
  CHECK(rb.allocated_bytes() == 2 * ByteRing::kPageBytes);
  std::vector<uint8_t> out(100);
  CHECK(rb.read(out) == 100);
  CHECK(out == span_of(0, 100));
  // The first page is still partly live only if data beyond read_ remains in it.
  CHECK(rb.allocated_bytes() <= 2 * ByteRing::kPageBytes);
  // A tighter accept limit refuses new data beyond it, but not data already here.
  CHECK(put(rb, 200'000, 10, StreamEnd::none) == ReceiveBuffer::Store::stored);
  auto v = span_of(300'000, 10);
  CHECK(rb.store(300'000, v, StreamEnd::none, 250'000) == ReceiveBuffer::Store::out_of_window);
  auto d = span_of(200'000, 10);
  CHECK(rb.store(200'000, d, StreamEnd::none, 150'000) == ReceiveBuffer::Store::duplicate);
}

TEST_CASE("receive buffer: pages are freed as the application reads") {
  MemoryBudget budget(1 << 30);
  ReceiveBuffer rb(1 << 20, 16, &budget);
  std::vector<uint8_t> out(4096);
  for (uint64_t off = 0; off < (1 << 20); off += 4096) {
    REQUIRE(put(rb, off, 4096) == ReceiveBuffer::Store::stored);
    REQUIRE(rb.read(out) == 4096);
    REQUIRE(out == span_of(off, 4096));
    REQUIRE(rb.allocated_bytes() <= ByteRing::kPageBytes);
  }
  CHECK(rb.allocated_bytes() == 0);  // everything read: nothing held
  CHECK(budget.used_bytes() == 0);
}

TEST_CASE("send buffer: pages freed as acknowledged; over budget, no new page beyond the first") {
  MemoryBudget budget(3 * ByteRing::kPageBytes);
  SendBuffer sb(1 << 20, 256, &budget);
  std::vector<uint8_t> data(40'000, 7);
  CHECK(sb.write(data) == 40'000);
  CHECK(sb.allocated_bytes() == 3 * ByteRing::kPageBytes);
  CHECK(budget.exceeded());
  // Only the rest of the page being filled is offered.
  CHECK(sb.space() == 3 * ByteRing::kPageBytes - 40'000);
  SendBuffer other(1 << 20, 256, &budget);
  CHECK(other.space() == ByteRing::kPageBytes);  // a stream with no page gets one
  // Acknowledge everything: the pages go back.
  while (auto seq = sb.make_block(1024, UINT64_MAX, false)) sb.record_transmission(*seq, Timestamp{}, 1088);
  SendBuffer::AckResult r;
  sb.ack_prefix(40'000, r);
  sb.release_acked();
  CHECK(sb.allocated_bytes() == 0);
  CHECK_FALSE(budget.exceeded());
  CHECK(sb.space() == (1 << 20));
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
