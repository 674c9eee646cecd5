// Acknowledgement behaviour of one Stream fed hand-made reference-format messages
// (zero padding, as the reference sends them; CURVECP.md 6.2, 6.6, 7.7, 9 item 11).
#include <doctest/doctest.h>

#include <vector>

#include "core/rng.h"
#include "scheduler/ack_scheduler.h"
#include "scheduler/message.h"
#include "scheduler/stream.h"
#include "scheduler/window_extension.h"

using namespace curvecp;

namespace {

std::unique_ptr<Stream> make_stream(StreamRole role, bool ping = false) {
  static SeededRng rng(5);
  StreamConfig c;
  c.role = role;
  c.controller = "reference-chicago";
  c.ping_at_start = ping;
  return std::move(Stream::create(c, rng, Timestamp{0}).value());
}

// A data message as the reference builds it (CURVECP.md 6.3).
std::vector<uint8_t> reference_data(uint32_t id, uint64_t offset, size_t n, StreamEnd end = StreamEnd::none) {
  std::vector<uint8_t> data(n, static_cast<uint8_t>(offset));
  std::vector<uint8_t> out(1088);
  MessageFields f;
  f.id = id;
  f.offset = offset;
  f.end = end;
  const size_t size = encode_message(f, data, message_size_for_data(n), out);
  out.resize(size);
  return out;
}

std::vector<Message> drain(Stream& s, Timestamp now, std::vector<std::vector<uint8_t>>& storage,
                           size_t max_bytes = 1088) {
  std::vector<Message> out;
  storage.clear();
  storage.reserve(1000);
  std::vector<uint8_t> buf(1088);
  while (size_t n = s.poll_transmit(now, buf, max_bytes)) {
    storage.emplace_back(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    Message m;
    REQUIRE(parse_message(storage.back(), m) == ParseResult::ok);
    out.push_back(m);
    if (out.size() > 500) break;
  }
  return out;
}

}  // namespace

TEST_CASE("acks toward a reference peer: one 192-byte ack per message, naming its ID") {
  auto s = make_stream(StreamRole::server);
  for (uint32_t id = 1; id <= 10; ++id) s->on_message(Timestamp{id * 1000}, reference_data(id, (id - 1) * 1024, 1024));
  std::vector<std::vector<uint8_t>> storage;
  auto msgs = drain(*s, Timestamp{20'000}, storage);
  REQUIRE(msgs.size() == 10);
  for (uint32_t i = 0; i < 10; ++i) {
    CHECK(storage[i].size() == kPureAckBytes);
    CHECK(msgs[i].id == 0);
    CHECK(msgs[i].ack.acked_id == i + 1);
    CHECK(msgs[i].ack.range1 == 10 * 1024);
    CHECK(msgs[i].data.empty());
    // Our window marker rides in the padding the reference ignores.
    auto w = parse_window_extension(msgs[i].padding);
    REQUIRE(w);
    CHECK(w->max_offset == 10 * 1024 - 10 * 1024 + (4u << 20));
  }
  CHECK(s->readable() == 10 * 1024);
  CHECK(s->next_timeout() == Timestamp::never());
  CHECK_FALSE(s->stats().peer_is_curvecp);
}

TEST_CASE("acks: out-of-order data gets ranges; a duplicate already covered gets ID 0 (9 item 11)") {
  auto s = make_stream(StreamRole::server);
  std::vector<std::vector<uint8_t>> storage;
  s->on_message(Timestamp{1}, reference_data(1, 0, 1024));
  auto msgs = drain(*s, Timestamp{1}, storage);
  REQUIRE(msgs.size() == 1);
  s->on_message(Timestamp{2}, reference_data(3, 2048, 1024));
  msgs = drain(*s, Timestamp{3}, storage);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].ack.acked_id == 3);
  CHECK(msgs[0].ack.range1 == 1024);
  CHECK(msgs[0].ack.gap1 == 1024);
  CHECK(msgs[0].ack.ranges[0] == 1024);
  // The reference retransmits block 3 (new ID 4): its data was covered by range 2, so
  // naming ID 4 could make the reference compute rtt = now - 0.
  s->on_message(Timestamp{4}, reference_data(4, 2048, 1024));
  msgs = drain(*s, Timestamp{5}, storage);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].ack.acked_id == 0);
  // A zero-length EOF block at the end of received data (covered by range 2's edge).
  s->on_message(Timestamp{6}, reference_data(5, 3072, 0, StreamEnd::succ));
  msgs = drain(*s, Timestamp{7}, storage);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].ack.acked_id == 0);
  // The hole fills: range 1 = total + 1 acknowledges the end.
  s->on_message(Timestamp{8}, reference_data(6, 1024, 1024));
  msgs = drain(*s, Timestamp{9}, storage);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].ack.acked_id == 6);
  CHECK(msgs[0].ack.range1 == 3072 + 1);
  CHECK(msgs[0].ack.gap1 == 0);
  CHECK(msgs[0].ack.ranges[0] == 0);
}

TEST_CASE("acks: within one batch, only the first ack may name out-of-order data (9 item 11)") {
  auto s = make_stream(StreamRole::server);
  std::vector<std::vector<uint8_t>> storage;
  s->on_message(Timestamp{1}, reference_data(1, 0, 1024));
  s->on_message(Timestamp{2}, reference_data(3, 2048, 1024));
  s->on_message(Timestamp{3}, reference_data(4, 3072, 1024));
  auto msgs = drain(*s, Timestamp{4}, storage);
  REQUIRE(msgs.size() == 3);
  // The first acknowledgement's ranges already cover blocks 3 and 4; naming them later
  // would let the reference take rtt = now - 0.
  CHECK(msgs[0].ack.acked_id == 1);
  CHECK(msgs[0].ack.ranges[0] == 2048);
  CHECK(msgs[1].ack.acked_id == 0);
  CHECK(msgs[2].ack.acked_id == 0);
  // In-order data of one batch is covered by range 1 and may be named.
  s->on_message(Timestamp{5}, reference_data(2, 1024, 1024));
  s->on_message(Timestamp{6}, reference_data(5, 4096, 1024));
  msgs = drain(*s, Timestamp{7}, storage);
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].ack.acked_id == 2);
  CHECK(msgs[1].ack.acked_id == 5);
  CHECK(msgs[1].ack.range1 == 5120);
}

TEST_CASE("acks: malformed messages are counted and not acknowledged; pure acks are never acknowledged") {
  auto s = make_stream(StreamRole::server);
  std::vector<std::vector<uint8_t>> storage;
  std::vector<uint8_t> bad(40, 0);
  s->on_message(Timestamp{1}, bad);
  auto m = reference_data(1, 0, 100);
  store_le16(m.data() + 38, 1025);
  s->on_message(Timestamp{2}, m);
  std::vector<uint8_t> pure(192, 0);
  s->on_message(Timestamp{3}, pure);
  CHECK(s->stats().bad_messages == 2);
  CHECK(drain(*s, Timestamp{4}, storage).empty());
  // Data beyond the 4 MiB window is not stored and not acknowledged.
  s->on_message(Timestamp{5}, reference_data(2, 4u << 20, 100));
  CHECK(drain(*s, Timestamp{6}, storage).empty());
  CHECK(s->readable() == 0);
}

TEST_CASE("client: ping at start (CURVECP.md 6.10), resent on timeout") {
  auto s = make_stream(StreamRole::client, true);
  std::vector<std::vector<uint8_t>> storage;
  auto msgs = drain(*s, Timestamp{0}, storage, 640);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].id == 1);
  CHECK(msgs[0].data.empty());
  CHECK(msgs[0].offset == 0);
  CHECK(msgs[0].end == StreamEnd::none);
  CHECK(storage[0].size() == 192);
  // No acknowledgement: reference-chicago's timeout is 1 s before the first sample, and
  // our timer is armed (the reference's 60 s stall, CURVECP.md 9 item 8, does not happen).
  CHECK(s->next_timeout() == Timestamp{1'000'000'000});
  msgs = drain(*s, Timestamp{1'000'000'000}, storage, 640);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].id == 2);
  CHECK(msgs[0].data.empty());
  CHECK(s->stats().timeouts == 1);
}

TEST_CASE("client: a ping with data already written is a data block") {
  auto s = make_stream(StreamRole::client, true);
  std::vector<uint8_t> data(100, 7);
  REQUIRE(s->write(data) == 100);
  std::vector<std::vector<uint8_t>> storage;
  auto msgs = drain(*s, Timestamp{0}, storage, 640);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].data.size() == 100);
  CHECK(s->next_timeout() == Timestamp{1'000'000'000});  // its timeout, not another ping
}

TEST_CASE("client: 512-byte blocks until the first message, then 1024") {
  auto s = make_stream(StreamRole::client);
  std::vector<uint8_t> data(3000, 7);
  REQUIRE(s->write(data) == 3000);
  std::vector<std::vector<uint8_t>> storage;
  auto msgs = drain(*s, Timestamp{0}, storage, 640);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].data.size() == 512);
  CHECK(storage[0].size() == 576);
  // The server's acknowledgement: an RTT sample of 10 ms, so N = 10 ms.
  MessageFields ack;
  ack.ack.acked_id = 1;
  ack.ack.range1 = 512;
  std::vector<uint8_t> ackbuf(192);
  REQUIRE(encode_message(ack, {}, 192, ackbuf) == 192);
  s->on_message(Timestamp{10'000'000}, ackbuf);
  CHECK(s->stats().srtt == Duration::milliseconds(10));
  CHECK(s->next_timeout() == Timestamp{10'000'000});
  msgs = drain(*s, Timestamp{10'000'000}, storage, 1088);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].data.size() == 1024);
  CHECK(msgs[0].offset == 512);
  // N = rtt = 10 ms, then at once halved by the first doubling (CURVECP.md 7.3 step 6).
  CHECK(s->next_timeout() == Timestamp{15'000'000});
}

namespace {

// Lets everything go at once: whatever limits a burst is the stream.
class Unpaced final : public CongestionController {
 public:
  std::string_view name() const override { return "test-unpaced"; }
  void on_ack(const AckSample&, const PathState&) override {}
  void on_loss(const LossSample&, const PathState&) override {}
  Timestamp next_send_time(Timestamp now) const override { return now; }
  double rate_bytes_per_s() const override { return 0; }
};

const bool unpaced_registered = [] {
  register_controller("test-unpaced", [](Rng&, Timestamp) { return std::make_unique<Unpaced>(); });
  return true;
}();

}  // namespace

TEST_CASE("toward a reference peer at most 32 messages leave at one instant, then 1 ms passes") {
  static SeededRng rng(5);
  StreamConfig c;
  c.controller = "test-unpaced";
  auto s = std::move(Stream::create(c, rng, Timestamp{0}).value());
  std::vector<uint8_t> data(100'000, 7);
  REQUIRE(s->write(data) == 100'000);
  std::vector<std::vector<uint8_t>> storage;
  auto msgs = drain(*s, Timestamp{0}, storage);
  CHECK(msgs.size() == 32);
  CHECK(s->next_timeout() == Timestamp{1'000'000});
  CHECK(drain(*s, Timestamp{999'999}, storage).empty());
  msgs = drain(*s, Timestamp{1'000'000}, storage);
  CHECK(msgs.size() == 32);
  CHECK(msgs[0].offset == 32 * 1024);
}

TEST_CASE("pacing: poll_transmit returns a burst when the controller allows several messages") {
  static SeededRng rng(5);
  StreamConfig c;
  c.controller = "test-constant-rate-100mbit";  // credit for 16 messages after idle
  auto s = std::move(Stream::create(c, rng, Timestamp{0}).value());
  std::vector<uint8_t> data(100'000, 7);
  REQUIRE(s->write(data) == 100'000);
  std::vector<std::vector<uint8_t>> storage;
  auto msgs = drain(*s, Timestamp{1'000'000'000}, storage);
  CHECK(msgs.size() == 17);
  for (size_t i = 0; i < msgs.size(); ++i) CHECK(msgs[i].offset == i * 1024);
  // Then one per 1088 bytes at 12.5 MB/s: 87 us.
  CHECK(s->next_timeout() > Timestamp{1'000'000'000});
  CHECK(s->next_timeout() <= Timestamp{1'000'100'000});
}

TEST_CASE("ack scheduler between curvecp peers: coalescing, delay, out-of-order individually") {
  AckScheduler a;
  CHECK(a.deadline() == Timestamp::never());
  // One in-order message: due after 1 ms.
  a.on_received(Timestamp{1000}, AckScheduler::Received{7, 1024, false, false}, false);
  CHECK(a.deadline() == Timestamp{1000} + AckScheduler::kMaxAckDelay);
  // The second: due at once, and one acknowledgement names the newest.
  a.on_received(Timestamp{2000}, AckScheduler::Received{8, 2048, false, false}, false);
  CHECK(a.due(Timestamp{2000}));
  CHECK(a.take(false, 2048) == 8);
  CHECK(a.deadline() == Timestamp::never());
  // Out of order: each named, at once; then in-order data coalesces again.
  a.on_received(Timestamp{3000}, AckScheduler::Received{10, 5000, true, true}, false);
  a.on_received(Timestamp{3000}, AckScheduler::Received{11, 6000, true, true}, false);
  a.on_received(Timestamp{3000}, AckScheduler::Received{12, 7000, false, false}, false);
  a.on_received(Timestamp{3000}, AckScheduler::Received{13, 8000, false, false}, false);
  CHECK(a.due(Timestamp{3000}));
  CHECK(a.take(false, 2048) == 10);
  CHECK(a.take(false, 2048) == 11);  // no 9 item 11 rule between curvecp peers
  CHECK(a.take(false, 8000) == 13);
  CHECK(a.deadline() == Timestamp::never());
  // A window update asks for an acknowledgement without an ID.
  a.request(Timestamp{5000});
  CHECK(a.due(Timestamp{5000}));
  CHECK(a.take(false, 8000) == 0);
}

TEST_CASE("ack scheduler: the queue grows on demand, keeps order across growth, drops the oldest when full") {
  AckScheduler a;
  // Toward a reference peer every message is queued: take a few out first so the ring's
  // head is not at slot 0 when it grows.
  for (uint32_t id = 1; id <= 3; ++id) a.on_received(Timestamp{1000}, AckScheduler::Received{id, id * 1024, true, true}, true);
  CHECK(a.take(true, 3 * 1024) == 1);
  CHECK(a.take(true, 3 * 1024) == 2);
  const uint32_t last = 3 + static_cast<uint32_t>(AckScheduler::kMaxPending) + 10;
  for (uint32_t id = 4; id <= last; ++id) a.on_received(Timestamp{1000}, AckScheduler::Received{id, id * 1024, true, true}, true);
  // kMaxPending + 11 were queued after 3: the oldest 11 (3..13) were dropped.
  const uint32_t first_kept = last - static_cast<uint32_t>(AckScheduler::kMaxPending) + 1;
  for (uint32_t id = first_kept; id <= last; ++id) {
    REQUIRE(a.take(true, uint64_t{last} * 1024) == id);
  }
  CHECK(a.deadline() == Timestamp::never());
  CHECK(a.take(true, uint64_t{last} * 1024) == 0);
}
