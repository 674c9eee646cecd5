// Two Streams back to back in memory (pair_harness.h): byte-exact transfers with EOF and
// FAIL under loss, duplication and reordering; flow control toward reference-style and
// announcing peers; bounded memory; controller switching.
#include <doctest/doctest.h>

#include <cstring>
#include <set>

#include "pair_harness.h"
#include "scheduler/message.h"
#include "scheduler/window_extension.h"

using namespace curvecp;
using namespace curvecp::test;

namespace {

StreamConfig config(StreamRole role, const char* controller = "reference-chicago") {
  StreamConfig c;
  c.role = role;
  c.controller = controller;
  return c;
}

void check_transfer(StreamPair& pair, const PairResult& r) {
  CHECK(r.finished);
  CHECK_FALSE(pair.app_a.corrupt);
  CHECK_FALSE(pair.app_b.corrupt);
  CHECK(pair.app_a.received == pair.app_b.to_send);
  CHECK(pair.app_b.received == pair.app_a.to_send);
}

}  // namespace

TEST_CASE("stream: bidirectional transfer over a clean link, with EOF both ways") {
  LinkConfig link;
  StreamPair pair(config(StreamRole::client), config(StreamRole::server), link, 1);
  pair.app_a = AppEnd{.send_seed = 11, .to_send = 300000, .recv_seed = 22};
  pair.app_b = AppEnd{.send_seed = 22, .to_send = 200000, .recv_seed = 11};
  const PairResult r = pair.run(Duration::seconds(120));
  check_transfer(pair, r);
  MESSAGE("virtual time ", (r.end_time - Timestamp{1000000000}).seconds_f(), " s, iterations ", r.iterations);
  CHECK(pair.a().read_finished());
  CHECK_FALSE(pair.a().read_failed());
  CHECK_FALSE(pair.b().read_failed());
  CHECK(pair.a().stats().peer_is_curvecp);
  CHECK(pair.b().stats().bad_messages == 0);
}

namespace {

// A real, if simple, controller for flow-control tests: paces at a fixed rate and caps
// nothing, so whatever limits the bytes in flight is the stream's flow control.
class ConstantRate final : public CongestionController {
 public:
  explicit ConstantRate(double rate) : interval_{static_cast<int64_t>(1088.0 * 1e9 / rate)} {}
  std::string_view name() const override { return "test-constant-rate"; }
  void on_ack(const AckSample&, const PathState&) override {}
  void on_loss(const LossSample&, const PathState&) override {}
  void on_send(const SendSample& s) override {
    // Credit for at most 16 messages of idle time: bursts of floor(elapsed/interval).
    next_ = std::max(next_, s.now - interval_ * 16) + interval_;
  }
  Timestamp next_send_time(Timestamp now) const override { return next_ > now ? next_ : now; }
  double rate_bytes_per_s() const override { return 1088.0 * 1e9 / static_cast<double>(interval_.ns); }

 private:
  Duration interval_;
  Timestamp next_{0};
};

const bool registered = [] {
  register_controller("test-constant-rate-100mbit",
                      [](Rng&, Timestamp) { return std::make_unique<ConstantRate>(12.5e6); });
  return true;
}();

// Tracks the largest range 1 that reached `who` and checks every data message `who`
// sends against the reference window: offset + D <= that + 131072.
struct ReferenceWindowCheck {
  uint64_t range1_seen = 0;
  uint64_t violations = 0;
  uint64_t max_end = 0;
  void attach(StreamPair& pair, int who) {
    pair.on_deliver = [this, who](int to, const std::vector<uint8_t>& m) {
      Message msg;
      if (to == who && parse_message(m, msg) != ParseResult::bad_length) {
        range1_seen = std::max(range1_seen, msg.ack.range1);
      }
    };
    pair.on_wire = [this, who](int from, const uint8_t* p, size_t n) {
      Message msg;
      if (from != who || parse_message(Bytes(p, n), msg) != ParseResult::ok || msg.data.empty()) return;
      const uint64_t end = msg.offset + msg.data.size();
      max_end = std::max(max_end, end);
      if (end > range1_seen + 131072) ++violations;
    };
  }
};

}  // namespace

TEST_CASE("stream: several MB byte-exact through loss, duplication and reordering, EOF both ways") {
  for (uint64_t seed : {2u, 3u}) {
    CAPTURE(seed);
    LinkConfig link;
    link.delay = Duration::milliseconds(5);
    link.loss = 0.05;
    link.duplicate = 0.02;
    link.reorder = 0.1;
    StreamPair pair(config(StreamRole::client, "test-constant-rate-100mbit"),
                    config(StreamRole::server, "test-constant-rate-100mbit"), link, seed);
    pair.app_a = AppEnd{.send_seed = 5, .to_send = 3'000'000, .recv_seed = 6};
    pair.app_b = AppEnd{.send_seed = 6, .to_send = 1'000'000, .recv_seed = 5};
    const PairResult r = pair.run(Duration::seconds(300));
    check_transfer(pair, r);
    CHECK(pair.a().stats().retransmissions > 0);
    CHECK(pair.b().stats().retransmissions > 0);
    MESSAGE("seed ", seed, ": virtual ", (r.end_time - Timestamp{1000000000}).seconds_f(), " s, a retransmissions ",
            pair.a().stats().retransmissions, ", timeouts ", pair.a().stats().timeouts);
  }
}

TEST_CASE("stream: reference-chicago moves data through a lossy link") {
  LinkConfig link;
  link.delay = Duration::milliseconds(2);
  link.loss = 0.03;
  link.reorder = 0.05;
  StreamPair pair(config(StreamRole::client), config(StreamRole::server), link, 9);
  pair.app_a = AppEnd{.send_seed = 1, .to_send = 400'000, .recv_seed = 2};
  pair.app_b = AppEnd{.send_seed = 2, .to_send = 400'000, .recv_seed = 1};
  const PairResult r = pair.run(Duration::seconds(600));
  check_transfer(pair, r);
}

TEST_CASE("stream: FAIL reaches the reader after all data") {
  LinkConfig link;
  link.loss = 0.02;
  StreamPair pair(config(StreamRole::client, "test-constant-rate-100mbit"),
                  config(StreamRole::server, "test-constant-rate-100mbit"), link, 4);
  pair.app_a = AppEnd{.send_seed = 3, .to_send = 200'000, .fail = true, .recv_seed = 4};
  pair.app_b = AppEnd{.send_seed = 4, .to_send = 1000, .recv_seed = 3};
  const PairResult r = pair.run(Duration::seconds(60));
  check_transfer(pair, r);
  CHECK(pair.b().read_finished());
  CHECK(pair.b().read_failed());
  CHECK(pair.a().read_finished());
  CHECK_FALSE(pair.a().read_failed());
}

TEST_CASE("stream: empty streams still exchange EOF") {
  StreamPair pair(config(StreamRole::client), config(StreamRole::server), LinkConfig{}, 5);
  pair.app_a = AppEnd{.to_send = 0};
  pair.app_b = AppEnd{.to_send = 0};
  const PairResult r = pair.run(Duration::seconds(60));
  check_transfer(pair, r);
}

TEST_CASE("flow control: never past acknowledged prefix + 128 KiB toward a peer that does not announce") {
  LinkConfig link;
  link.delay = Duration::milliseconds(20);
  link.strip_extension = true;  // both directions look like the reference
  StreamPair pair(config(StreamRole::server, "test-constant-rate-100mbit"),
                  config(StreamRole::client, "test-constant-rate-100mbit"), link, 6);
  ReferenceWindowCheck check;
  check.attach(pair, 0);
  pair.app_a = AppEnd{.send_seed = 7, .to_send = 2'000'000, .recv_seed = 8};
  pair.app_b = AppEnd{.send_seed = 8, .to_send = 10, .recv_seed = 7};
  const PairResult r = pair.run(Duration::seconds(60));
  check_transfer(pair, r);
  CHECK(check.violations == 0);
  CHECK_FALSE(pair.a().stats().peer_is_curvecp);
  CHECK_FALSE(pair.b().stats().peer_is_curvecp);
}

TEST_CASE("flow control: after the announcement a long fat path is not window-limited") {
  // 100 Mbit/s x 100 ms needs 1.25 MB in flight.
  LinkConfig link;
  link.delay = Duration::milliseconds(50);
  StreamConfig a = config(StreamRole::server, "test-constant-rate-100mbit");
  StreamConfig b = config(StreamRole::client, "test-constant-rate-100mbit");
  StreamPair pair(a, b, link, 7);
  pair.app_a = AppEnd{.send_seed = 9, .to_send = 8'000'000, .recv_seed = 10};
  pair.app_b = AppEnd{.send_seed = 10, .to_send = 0, .recv_seed = 9};
  uint64_t max_in_flight = 0;
  pair.on_step = [&] { max_in_flight = std::max(max_in_flight, pair.a().stats().bytes_in_flight); };
  const PairResult r = pair.run(Duration::seconds(60));
  check_transfer(pair, r);
  CHECK(pair.a().stats().peer_is_curvecp);
  CHECK(max_in_flight >= 1'250'000);
  // No data was dropped for lack of window: nothing had to be resent on a clean link.
  CHECK(pair.a().stats().retransmissions == 0);
  MESSAGE("max in flight ", max_in_flight, " bytes; virtual ", (r.end_time - Timestamp{1000000000}).seconds_f(), " s");
}

TEST_CASE("flow control: a slow reader closes the announced window and nothing is lost") {
  LinkConfig link;
  link.delay = Duration::milliseconds(10);
  StreamConfig a = config(StreamRole::server, "test-constant-rate-100mbit");
  StreamConfig b = config(StreamRole::client, "test-constant-rate-100mbit");
  b.receive_buffer_bytes = 300'000;
  StreamPair pair(a, b, link, 8);
  pair.app_a = AppEnd{.send_seed = 11, .to_send = 3'000'000, .recv_seed = 12};
  pair.app_b = AppEnd{.send_seed = 12, .to_send = 0, .recv_seed = 11, .read_chunk = 0};
  size_t max_readable = 0;
  pair.on_step = [&] {
    max_readable = std::max(max_readable, pair.b().readable());
    // The reader wakes up for 1 ms out of every 50 (the link brings 625 kB in 50 ms).
    const int64_t ms = pair.now().ns / 1'000'000;
    pair.app_b.read_chunk = ms % 50 == 0 ? 4096 : 0;
  };
  pair.max_step = Duration::milliseconds(1);
  const PairResult r = pair.run(Duration::seconds(120));
  check_transfer(pair, r);
  CHECK(max_readable <= 300'000);
  CHECK(max_readable >= 250'000);  // the window was used
  CHECK(pair.a().stats().retransmissions == 0);
}

TEST_CASE("flow control: a lost window update is recovered by the zero-window probe") {
  LinkConfig link;
  link.delay = Duration::milliseconds(5);
  StreamConfig a = config(StreamRole::server, "test-constant-rate-100mbit");
  StreamConfig b = config(StreamRole::client, "test-constant-rate-100mbit");
  b.receive_buffer_bytes = 100'000;
  StreamPair pair(a, b, link, 12);
  pair.app_a = AppEnd{.send_seed = 13, .to_send = 1'000'000, .recv_seed = 14};
  pair.app_b = AppEnd{.send_seed = 14, .to_send = 0, .recv_seed = 13, .read_chunk = 0};
  const Timestamp start = pair.now();
  pair.on_step = [&] {
    // The reader sleeps for 200 ms, then reads everything; while it wakes up, every
    // message from b to a (the window updates) is lost.
    const Duration t = pair.now() - start;
    const bool reading = t >= Duration::milliseconds(200);
    pair.app_b.read_chunk = reading ? 8192 : 0;
    pair.ba().set_loss(t >= Duration::milliseconds(190) && t < Duration::milliseconds(260) ? 1.0 : 0.0);
  };
  pair.max_step = Duration::milliseconds(1);
  const PairResult r = pair.run(Duration::seconds(60));
  check_transfer(pair, r);
}

TEST_CASE("bounded memory: the send buffer takes at most send_buffer_bytes") {
  StreamConfig c = config(StreamRole::server);
  c.send_buffer_bytes = 100'000;
  SeededRng rng(1);
  auto s = std::move(Stream::create(c, rng, Timestamp{0}).value());
  std::vector<uint8_t> big(250'000, 1);
  CHECK(s->send_space() == 100'000);
  CHECK(s->write(big) == 100'000);
  CHECK(s->send_space() == 0);
  CHECK(s->write(big) == 0);
  s->close_write();
  CHECK(s->send_space() == 0);
  CHECK_FALSE(s->write_finished());
}

TEST_CASE("stream: unknown controller names are errors, switching keeps the path state") {
  StreamConfig c = config(StreamRole::server, "no-such-controller");
  SeededRng rng(1);
  auto bad = Stream::create(c, rng, Timestamp{0});
  CHECK_FALSE(bad.ok());

  StreamPair pair(config(StreamRole::client), config(StreamRole::server), LinkConfig{}, 10);
  pair.app_a = AppEnd{.send_seed = 1, .to_send = 100'000, .recv_seed = 2};
  pair.app_b = AppEnd{.send_seed = 2, .to_send = 100'000, .recv_seed = 1};
  bool switched = false;
  Duration srtt_before{0};
  pair.on_step = [&] {
    if (!switched && pair.app_b.received > 50'000) {
      srtt_before = pair.a().stats().srtt;
      CHECK_FALSE(pair.a().set_controller("no-such-controller", pair.now()).ok());
      CHECK(pair.a().controller_name() == "reference-chicago");
      REQUIRE(pair.a().set_controller("test-constant-rate-100mbit", pair.now()).ok());
      CHECK(pair.a().controller_name() == "test-constant-rate-100mbit");
      CHECK(pair.a().stats().srtt == srtt_before);
      switched = true;
    }
  };
  const PairResult r = pair.run(Duration::seconds(120));
  check_transfer(pair, r);
  CHECK(switched);
  CHECK(srtt_before > Duration{0});
}

TEST_CASE("loss recovery: batched deliveries with 5% loss cause few spurious retransmissions") {
  // Messages arrive in 5 ms batches (as a runtime reading many datagrams per wake-up sees
  // them); each data message is tracked from the wire, and a retransmission of data that
  // had already been delivered is spurious.
  LinkConfig link;
  link.delay = Duration::milliseconds(20);
  link.loss = 0.05;
  link.batch = Duration::milliseconds(5);
  StreamPair pair(config(StreamRole::client, "test-constant-rate-100mbit"),
                  config(StreamRole::server, "test-constant-rate-100mbit"), link, 13);
  std::set<uint64_t> delivered, sent;
  uint64_t spurious = 0;
  pair.on_deliver = [&](int to, const std::vector<uint8_t>& m) {
    Message msg;
    if (to == 1 && parse_message(m, msg) == ParseResult::ok && !msg.data.empty()) delivered.insert(msg.offset);
  };
  pair.on_wire = [&](int from, const uint8_t* p, size_t n) {
    Message msg;
    if (from != 0 || parse_message(Bytes(p, n), msg) != ParseResult::ok || msg.data.empty()) return;
    if (!sent.insert(msg.offset).second && delivered.count(msg.offset)) ++spurious;
  };
  pair.app_a = AppEnd{.send_seed = 15, .to_send = 4'000'000, .recv_seed = 16};
  pair.app_b = AppEnd{.send_seed = 16, .to_send = 0, .recv_seed = 15};
  const PairResult r = pair.run(Duration::seconds(60));
  check_transfer(pair, r);
  const uint64_t dropped = pair.ab().dropped();
  CHECK(pair.a().stats().retransmissions >= dropped * 9 / 10);
  CHECK(spurious * 10 < dropped);
  MESSAGE("dropped ", dropped, ", retransmissions ", pair.a().stats().retransmissions, ", spurious ", spurious);
}

TEST_CASE("timeouts: a blackout is a few timeout events with back-off, not one per block") {
  LinkConfig link;
  link.delay = Duration::milliseconds(5);
  StreamPair pair(config(StreamRole::client, "test-constant-rate-100mbit"),
                  config(StreamRole::server, "test-constant-rate-100mbit"), link, 14);
  pair.app_a = AppEnd{.send_seed = 17, .to_send = 4'000'000, .recv_seed = 18};
  pair.app_b = AppEnd{.send_seed = 18, .to_send = 0, .recv_seed = 17};
  const Timestamp start = pair.now();
  pair.on_step = [&] {
    const Duration t = pair.now() - start;
    const double loss = t >= Duration::milliseconds(100) && t < Duration::milliseconds(600) ? 1.0 : 0.0;
    pair.ab().set_loss(loss);
    pair.ba().set_loss(loss);
  };
  pair.max_step = Duration::milliseconds(1);
  const PairResult r = pair.run(Duration::seconds(60));
  check_transfer(pair, r);
  const StreamStats s = pair.a().stats();
  CHECK(s.timeouts >= 1);
  CHECK(s.timeouts <= 10);
  MESSAGE("blackout: ", s.timeouts, " timeout events, ", s.retransmissions, " retransmissions");
}
