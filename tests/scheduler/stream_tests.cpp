// Two Streams back to back in memory (pair_harness.h): byte-exact transfers with EOF and
// FAIL under loss, duplication and reordering; flow control toward reference-style and
// announcing peers; bounded memory; controller switching.
#include <doctest/doctest.h>

#include <cstring>
#include <set>

#include "pair_harness.h"
#include "scheduler/chicago.h"
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

namespace {

// Watches the data messages `who` puts on the wire: the highest stream offset sent, and
// whether any data at or beyond `limit` left after `limit` was set.
struct DataWatch {
  uint64_t max_end = 0;
  uint64_t limit = UINT64_MAX;
  uint64_t past_limit = 0;
  uint64_t fail_offset = UINT64_MAX;
  void attach(StreamPair& pair, int who) {
    pair.on_wire = [this, who](int from, const uint8_t* p, size_t n) {
      Message msg;
      if (from != who || parse_message(Bytes(p, n), msg) != ParseResult::ok || msg.id == 0) return;
      const uint64_t end = msg.offset + msg.data.size();
      max_end = std::max(max_end, end);
      if (!msg.data.empty() && end > limit) ++past_limit;
      if (msg.end == StreamEnd::fail) fail_offset = end;
    };
  }
};

struct AbortRun {
  uint64_t abort_offset = 0;      // highest offset transmitted when abort() was called
  Duration fail_seen_after{-1};   // from abort() to the peer's peer_failed()
  bool failed_before_complete = false;
};

// a sends 20 MB to b (a curvecp peer); at `abort_at` the owner aborts a.
AbortRun run_abort(StreamPair& pair, Duration abort_at) {
  AbortRun out;
  DataWatch watch;
  watch.attach(pair, 0);
  pair.app_a = AppEnd{.send_seed = 31, .to_send = 20'000'000, .recv_seed = 32};
  pair.app_b = AppEnd{.send_seed = 32, .to_send = 0, .recv_seed = 31};
  const Timestamp start = pair.now();
  Timestamp aborted = Timestamp::never();
  pair.max_step = Duration::milliseconds(1);
  pair.on_step = [&] {
    if (aborted == Timestamp::never() && pair.now() - start >= abort_at) {
      aborted = pair.now();
      out.abort_offset = watch.max_end;
      watch.limit = watch.max_end;
      pair.a().abort();
      pair.a().abort();  // idempotent
      CHECK(pair.a().send_space() == 0);
      CHECK(pair.a().write(Bytes(reinterpret_cast<const uint8_t*>("x"), 1)) == 0);
      pair.app_a.to_send = pair.app_a.written;
      pair.app_a.closed = true;
    }
    if (aborted != Timestamp::never() && pair.b().peer_failed() && out.fail_seen_after < Duration{0}) {
      out.fail_seen_after = pair.now() - aborted;
      out.failed_before_complete = !pair.b().read_finished();
    }
  };
  const PairResult r = pair.run(Duration::seconds(60));
  CHECK(r.finished);
  CHECK(watch.past_limit == 0);
  CHECK(watch.fail_offset == out.abort_offset);
  CHECK_FALSE(pair.app_b.corrupt);
  CHECK(pair.app_b.received == out.abort_offset);
  CHECK(pair.a().write_finished());
  CHECK(pair.b().read_finished());
  CHECK(pair.b().read_failed());
  CHECK(pair.b().peer_failed());
  CHECK_FALSE(pair.a().peer_failed());
  return out;
}

}  // namespace

TEST_CASE("abort: FAIL right after the highest offset transmitted, the rest discarded, seen within a round trip") {
  LinkConfig link;  // 10 ms one way
  StreamPair pair(config(StreamRole::client, "test-constant-rate-100mbit"),
                  config(StreamRole::server, "test-constant-rate-100mbit"), link, 21);
  const AbortRun r = run_abort(pair, Duration::milliseconds(80));
  CHECK(r.abort_offset > 100'000);
  CHECK(r.abort_offset < 4'000'000);  // the send buffer held far more, never sent
  // One way is 10 ms; the FAIL leaves at the next pacing slot (< 0.1 ms at 100 Mbit/s).
  CHECK(r.fail_seen_after >= Duration::milliseconds(10));
  CHECK(r.fail_seen_after <= Duration::milliseconds(12));
  MESSAGE("aborted at offset ", r.abort_offset, ", FAIL seen after ", r.fail_seen_after.ns / 1000, " us");
}

TEST_CASE("abort: peer_failed() holds as soon as the FAIL arrives, before the bytes ahead of it are complete") {
  LinkConfig link;
  link.loss = 0.05;
  StreamPair pair(config(StreamRole::client, "test-constant-rate-100mbit"),
                  config(StreamRole::server, "test-constant-rate-100mbit"), link, 22);
  const AbortRun r = run_abort(pair, Duration::milliseconds(80));
  CHECK(r.failed_before_complete);
  CHECK(r.fail_seen_after <= Duration::milliseconds(12));
  MESSAGE("lossy: aborted at offset ", r.abort_offset, ", FAIL seen after ", r.fail_seen_after.ns / 1000, " us");
}

TEST_CASE("abort: after close_write() a SUCC not yet sent becomes FAIL; a SUCC already sent stays") {
  for (const uint64_t size : {3000u, 100u}) {
    CAPTURE(size);
    // reference-chicago sends one block, then waits a second (CURVECP.md 7.2): with 3000
    // bytes the SUCC is still unsent at the abort; 100 bytes go out in one block with SUCC.
    StreamPair pair(config(StreamRole::client), config(StreamRole::server), LinkConfig{}, 23);
    DataWatch watch;
    watch.attach(pair, 0);
    pair.app_a = AppEnd{.send_seed = 41, .to_send = size, .recv_seed = 42};
    pair.app_b = AppEnd{.send_seed = 42, .to_send = 0, .recv_seed = 41};
    bool aborted = false;
    uint64_t sent_at_abort = 0;
    pair.on_step = [&] {
      if (!aborted && watch.max_end > 0) {
        aborted = true;
        sent_at_abort = watch.max_end;
        pair.a().abort();
      }
    };
    const PairResult r = pair.run(Duration::seconds(60));
    CHECK(r.finished);
    REQUIRE(aborted);
    CHECK(pair.b().read_failed() == (size == 3000));
    CHECK(pair.app_b.received == (size == 3000 ? sent_at_abort : size));
    CHECK(sent_at_abort == (size == 3000 ? 512 : 100));  // a client's first block is 512 bytes
    CHECK(pair.a().write_finished());
  }
}

namespace {

// Counts messages `who` sends, and keepalive-shaped ones (ID != 0, no data, no end).
struct WireCount {
  uint64_t messages[2] = {0, 0};
  uint64_t empty_blocks[2] = {0, 0};
  void attach(StreamPair& pair) {
    pair.on_wire = [this](int from, const uint8_t* p, size_t n) {
      Message msg;
      REQUIRE(parse_message(Bytes(p, n), msg) == ParseResult::ok);
      ++messages[from];
      if (msg.id != 0 && msg.data.empty() && msg.end == StreamEnd::none) {
        CHECK(n == 192);
        ++empty_blocks[from];
      }
    };
  }
};

// Keepalive from `sender` on an idle pair: exactly one message out and one back, the
// keepalive acknowledged, the sender's last_receive_time() advanced, its RTT and rate
// untouched.
void check_idle_keepalive(StreamPair& pair, WireCount& wire, int sender) {
  Stream& s = sender == 0 ? pair.a() : pair.b();
  const int other = 1 - sender;
  const Timestamp heard = s.last_receive_time();
  const StreamStats before = s.stats();
  const uint64_t sent_before = wire.messages[sender];
  const uint64_t back_before = wire.messages[other];
  CHECK_FALSE(s.keepalive_outstanding());
  s.send_keepalive(pair.now());
  CHECK(s.keepalive_outstanding());
  const Timestamp asked = pair.now();
  CHECK(s.next_timeout() <= asked);
  pair.run(Duration::milliseconds(100));
  CHECK_FALSE(s.keepalive_outstanding());
  CHECK(s.last_receive_time() > heard);
  CHECK(s.last_receive_time() >= asked + Duration::milliseconds(20));  // one round trip
  CHECK(wire.messages[sender] == sent_before + 1);
  CHECK(wire.messages[other] == back_before + 1);
  const StreamStats after = s.stats();
  CHECK(after.srtt == before.srtt);
  CHECK(after.rate_bytes_per_s == before.rate_bytes_per_s);
  CHECK(after.retransmissions == before.retransmissions);
  CHECK(after.bytes_in_flight == 0);
}

}  // namespace

TEST_CASE("keepalive: idle pair, from each side, at offset 0 and after data, acknowledged once each") {
  for (const uint64_t data : {0u, 70'000u}) {
    for (const char* controller : {"chicago", "reference-chicago"}) {
      CAPTURE(data);
      CAPTURE(controller);
      StreamPair pair(config(StreamRole::client, controller), config(StreamRole::server, controller), LinkConfig{}, 24);
      WireCount wire;
      wire.attach(pair);
      // Never closed: the pair stays open and idle after the transfer.
      pair.app_a = AppEnd{.send_seed = 51, .to_send = data, .closed = true, .recv_seed = 52};
      pair.app_b = AppEnd{.send_seed = 52, .to_send = data, .closed = true, .recv_seed = 51};
      pair.max_step = Duration::milliseconds(10);
      pair.run(Duration::seconds(data ? 30 : 1));
      REQUIRE(pair.app_a.received == data);
      REQUIRE(pair.app_b.received == data);
      CHECK(pair.a().next_timeout() == Timestamp::never());
      CHECK(pair.b().next_timeout() == Timestamp::never());
      check_idle_keepalive(pair, wire, 0);
      check_idle_keepalive(pair, wire, 1);
      check_idle_keepalive(pair, wire, 0);
      CHECK(wire.empty_blocks[0] == 2);
      CHECK(wire.empty_blocks[1] == 1);
    }
  }
}

TEST_CASE("keepalive: a lost one stays outstanding; the next one is acknowledged") {
  StreamPair pair(config(StreamRole::client), config(StreamRole::server), LinkConfig{}, 25);
  pair.app_a = AppEnd{.send_seed = 1, .to_send = 5000, .closed = true, .recv_seed = 2};
  pair.app_b = AppEnd{.send_seed = 2, .to_send = 5000, .closed = true, .recv_seed = 1};
  pair.max_step = Duration::milliseconds(10);
  pair.run(Duration::seconds(10));
  REQUIRE(pair.app_b.received == 5000);
  pair.ab().set_loss(1.0);
  pair.a().send_keepalive(pair.now());
  pair.run(Duration::seconds(5));
  CHECK(pair.a().keepalive_outstanding());  // never retransmitted, never timed out
  CHECK(pair.a().stats().timeouts == 0);
  pair.ab().set_loss(0);
  pair.a().send_keepalive(pair.now());
  pair.run(Duration::milliseconds(100));
  CHECK_FALSE(pair.a().keepalive_outstanding());
}

TEST_CASE("keepalive: frequent keepalives during a lossy transfer do not disturb it") {
  LinkConfig link;
  link.delay = Duration::milliseconds(5);
  link.loss = 0.03;
  link.reorder = 0.05;
  StreamPair pair(config(StreamRole::client), config(StreamRole::server), link, 26);
  pair.app_a = AppEnd{.send_seed = 61, .to_send = 1'000'000, .recv_seed = 62};
  pair.app_b = AppEnd{.send_seed = 62, .to_send = 300'000, .recv_seed = 61};
  Timestamp next = pair.now();
  uint64_t keepalives = 0, acknowledged = 0;
  bool outstanding[2] = {false, false};
  pair.max_step = Duration::milliseconds(5);
  pair.on_step = [&] {
    Stream* s[2] = {&pair.a(), &pair.b()};
    for (int i = 0; i < 2; ++i) {
      if (outstanding[i] && !s[i]->keepalive_outstanding()) ++acknowledged;
      outstanding[i] = s[i]->keepalive_outstanding();
    }
    if (pair.now() >= next) {
      next = pair.now() + Duration::milliseconds(50);
      for (int i = 0; i < 2; ++i) {
        s[i]->send_keepalive(pair.now());
        outstanding[i] = true;
        ++keepalives;
      }
    }
  };
  const PairResult r = pair.run(Duration::seconds(600));
  check_transfer(pair, r);
  CHECK(keepalives > 10);
  CHECK(acknowledged * 10 >= keepalives * 8);
  MESSAGE("keepalives ", keepalives, ", acknowledged ", acknowledged, "; virtual ",
          (r.end_time - Timestamp{1000000000}).seconds_f(), " s");
}

namespace {

// "chicago" under another name, remembering the instance the stream creates, so a test
// can read its base-delay estimate.
ChicagoController* observed_chicago = nullptr;
const bool chicago_observed_registered = [] {
  register_controller("test-chicago-observed", [](Rng& rng, Timestamp now) {
    auto c = std::make_unique<ChicagoController>(rng, now);
    observed_chicago = c.get();
    return c;
  });
  return true;
}();

}  // namespace

TEST_CASE("controller switch: chicago -> reference-chicago -> chicago keeps the base delay (PathState)") {
  LinkConfig link;  // 10 ms one way: base RTT 20 ms
  link.rate_bytes_per_s = 5e6;
  StreamPair pair(config(StreamRole::client, "test-chicago-observed"), config(StreamRole::server), link, 27);
  pair.app_a = AppEnd{.send_seed = 71, .to_send = 10'000'000, .recv_seed = 72};
  pair.app_b = AppEnd{.send_seed = 72, .to_send = 0, .recv_seed = 71};
  const Timestamp start = pair.now();
  int phase = 0;
  Duration base_first{0}, base_after{0};
  pair.max_step = Duration::milliseconds(1);
  pair.on_step = [&] {
    const Duration t = pair.now() - start;
    if (phase == 0 && t >= Duration::milliseconds(500)) {
      base_first = observed_chicago->base_delay();
      REQUIRE(pair.a().set_controller("reference-chicago", pair.now()).ok());
      // A route change while reference-chicago runs: every RTT is now 60 ms.
      pair.ab().set_delay(Duration::milliseconds(30));
      pair.ba().set_delay(Duration::milliseconds(30));
      phase = 1;
    } else if (phase == 1 && t >= Duration::milliseconds(1500)) {
      observed_chicago = nullptr;
      REQUIRE(pair.a().set_controller("test-chicago-observed", pair.now()).ok());
      REQUIRE(observed_chicago != nullptr);
      phase = 2;
    } else if (phase == 2 && observed_chicago->base_delay() != Duration::infinite()) {
      // The new instance's first acknowledgement: it reads the history of the whole path.
      base_after = observed_chicago->base_delay();
      phase = 3;
    }
  };
  const PairResult r = pair.run(Duration::seconds(120));
  check_transfer(pair, r);
  REQUIRE(phase == 3);
  CHECK(base_first >= Duration::milliseconds(20));
  CHECK(base_first < Duration::milliseconds(22));
  // A fresh history would say 60 ms; the path's two-minute history still holds 20 ms.
  CHECK(base_after == base_first);
  CHECK(pair.a().stats().srtt > Duration::milliseconds(55));
  MESSAGE("base delay before the switch ", base_first.ns / 1000, " us, after switching back ", base_after.ns / 1000,
          " us, srtt ", pair.a().stats().srtt.ns / 1000, " us");
}
