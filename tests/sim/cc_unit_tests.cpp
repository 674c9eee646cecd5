// Units of the shared controller pieces (scheduler/cc_*) and of chicago fed with
// synthetic samples (no stream, no network).
#include <doctest/doctest.h>

#include <cmath>
#include <deque>
#include <functional>

#include "core/rng.h"
#include "scheduler/cc_ack_rate.h"
#include "scheduler/cc_base_delay.h"
#include "scheduler/cc_pacer.h"
#include "scheduler/cc_windowed_filter.h"
#include "scheduler/chicago.h"
#include "scheduler/congestion.h"

using namespace curvecp;

namespace {
Timestamp at_ms(int64_t ms) { return Timestamp{0} + Duration::milliseconds(ms); }
}  // namespace

TEST_CASE("pacer spaces packets at the rate and banks at most max_credit") {
  CcPacer pacer(Duration::milliseconds(2));
  pacer.reset(at_ms(0));
  CHECK(pacer.next_send_time(at_ms(0)) == at_ms(0));
  pacer.on_send(at_ms(0), 1000, 1e6);  // 1 ms per 1000 bytes
  CHECK(pacer.next_send_time(at_ms(0)) == at_ms(1));
  // Woken 10 ms late: 2 ms of credit, so exactly three sends go at once (the one due
  // at 1 ms and two banked), then the spacing resumes.
  const Timestamp late = at_ms(11);
  int burst = 0;
  while (pacer.next_send_time(late) <= late && burst < 100) {
    pacer.on_send(late, 1000, 1e6);
    ++burst;
  }
  CHECK(burst == 3);
  CHECK(pacer.next_send_time(late) == at_ms(12));
}

// Sends what the pacer allows at `now` (1000-byte packets at 1 MB/s, i.e. 1 ms each);
// returns how many left.
int send_due(CcPacer& pacer, Timestamp now) {
  int sent = 0;
  while (pacer.next_send_time(now) <= now && sent < 1000) {
    pacer.on_send(now, 1000, 1e6);
    ++sent;
  }
  return sent;
}

TEST_CASE("adaptive pacer: frequent wake-ups keep the credit small, so a stall is not bursted") {
  CcPacer pacer(Duration::milliseconds(2), Duration::milliseconds(10));
  pacer.reset(at_ms(0));
  // Woken every millisecond for 2 s: one packet each time.
  for (int64_t t = 0; t < 2000; ++t) CHECK(send_due(pacer, at_ms(t)) <= 2);
  CHECK(pacer.credit() == Duration::milliseconds(2));
  // A 10 ms stall: the packet due at 2000 ms and 2 ms of credit, not 10 ms of it.
  CHECK(send_due(pacer, at_ms(2010)) == 3);
  // One stall moves the mean little: the credit stays near its floor.
  CHECK(pacer.credit() < Duration::milliseconds(4));
}

TEST_CASE("adaptive pacer: a process woken every 5 ms gets the credit to keep its rate") {
  CcPacer pacer(Duration::milliseconds(2), Duration::milliseconds(10));
  pacer.reset(at_ms(0));
  int sent = 0;
  for (int64_t t = 0; t <= 2000; t += 5) sent += send_due(pacer, at_ms(t));
  // Twice the 5 ms interval: 10 ms.
  CHECK(pacer.credit() >= Duration::microseconds(9900));
  // After the first second (the mean adapting), every wake-up sends its 5 ms worth.
  int late = 0;
  for (int64_t t = 2005; t <= 3000; t += 5) late += send_due(pacer, at_ms(t));
  CHECK(late >= 999);  // 1 MB/s for 1 s, 1000-byte packets
  CHECK(late <= 1001);
  // A fixed 2 ms credit loses 40% of it: 3 packets per 5 ms wake-up.
  CcPacer fixed(Duration::milliseconds(2));
  fixed.reset(at_ms(0));
  int fixed_sent = 0;
  for (int64_t t = 2005; t <= 3000; t += 5) fixed_sent += send_due(fixed, at_ms(t));
  CHECK(fixed_sent <= 601);
  CHECK(sent >= 1900);  // the first two seconds, while the credit grew
}

TEST_CASE("adaptive pacer: the credit never falls below its floor in bytes at the rate") {
  // 10 kB at 1 MB/s: 10 ms, however often the process wakes.
  CcPacer pacer(Duration::milliseconds(2), Duration::milliseconds(20), 10000);
  pacer.reset(at_ms(0));
  for (int64_t t = 0; t < 1000; ++t) send_due(pacer, at_ms(t));
  CHECK(pacer.credit() == Duration::milliseconds(10));
  // A 30 ms stall: the packet due and 10 ms of credit.
  CHECK(send_due(pacer, at_ms(1030)) == 11);
}

TEST_CASE("windowed min and max filters expire old extremes") {
  CcWindowedFilter<int, std::less<int>> min_filter(Duration::seconds(10));
  min_filter.update(40, at_ms(0));
  for (int64_t t = 1000; t <= 11000; t += 1000) min_filter.update(60, at_ms(t));
  CHECK(min_filter.best() == 60);  // 40 is older than 10 s
  min_filter.update(50, at_ms(11500));
  CHECK(min_filter.best() == 50);
  min_filter.update(80, at_ms(30000));  // everything expired
  CHECK(min_filter.best() == 80);

  CcWindowedFilter<double, std::greater<double>> max_filter(Duration::seconds(1));
  max_filter.update(5, at_ms(0));
  max_filter.update(3, at_ms(500));
  CHECK(max_filter.best() == 5);
  max_filter.update(2, at_ms(1200));
  CHECK(max_filter.best() == 3);
}

TEST_CASE("base-delay history keeps the minimum and forgets it after its horizon") {
  CcBaseDelay base(Duration::seconds(1), 3);
  CHECK(base.base() == Duration::infinite());
  base.on_rtt(at_ms(0), Duration::milliseconds(40));
  base.on_rtt(at_ms(500), Duration::milliseconds(45));
  CHECK(base.base() == Duration::milliseconds(40));
  // The path gets longer: after three 1 s buckets the old minimum is gone.
  for (int64_t t = 1000; t <= 5000; t += 100) base.on_rtt(at_ms(t), Duration::milliseconds(60));
  CHECK(base.base() == Duration::milliseconds(60));
}

TEST_CASE("base-delay history prefers full-size messages") {
  CcBaseDelay base(Duration::seconds(1), 3);
  // The first message of a transfer is small and comes back a serialisation time sooner.
  base.on_rtt(at_ms(0), Duration::microseconds(10'200), 300);
  CHECK(base.base() == Duration::microseconds(10'200));
  // Full-size messages markedly larger than any before: the history starts afresh.
  base.on_rtt(at_ms(10), Duration::microseconds(11'200), 1200);
  CHECK(base.base() == Duration::microseconds(11'200));
  base.on_rtt(at_ms(20), Duration::microseconds(11'000), 1150);
  CHECK(base.base() == Duration::microseconds(11'000));
  // A small message in an interval that has full-size ones does not count.
  base.on_rtt(at_ms(30), Duration::microseconds(10'100), 200);
  CHECK(base.base() == Duration::microseconds(11'000));
  // An interval of small messages only (an interactive spell) keeps their minimum, and a
  // full-size sample later in that interval replaces it.
  base.on_rtt(at_ms(1100), Duration::microseconds(10'300), 200);
  CHECK(base.base() == Duration::microseconds(10'300));
  base.on_rtt(at_ms(1200), Duration::microseconds(11'500), 1200);
  CHECK(base.base() == Duration::microseconds(11'000));
  // Unknown sizes count as full, as before.
  base.on_rtt(at_ms(1300), Duration::microseconds(10'900));
  CHECK(base.base() == Duration::microseconds(10'900));
}

TEST_CASE("ack rate measures bytes per second over the window") {
  CcAckRate rate;
  for (int64_t t = 0; t <= 1000; ++t) rate.on_ack(at_ms(t), 1000);
  CHECK(rate.rate_bytes_per_s(Duration::milliseconds(100), Duration::milliseconds(50)) == doctest::Approx(1e6));
  CHECK(rate.rate_bytes_per_s(Duration::milliseconds(100), Duration::seconds(5)) == 0);
}

namespace {

// Drives a chicago controller over a fluid model of a bottleneck: every millisecond it
// sends rate/1000 bytes into a FIFO served at `capacity` bytes/s; served bytes are
// acknowledged one base RTT later with RTT = base + their queueing delay + `extra`
// (a queue kept standing by someone else). The buffer holds 100 ms; overflow is a loss.
struct SyntheticPath {
  struct InFlight {
    Timestamp ack_at;
    double bytes;
    Duration rtt;
  };
  SeededRng rng{1};
  ChicagoController cc{rng, Timestamp{0}};
  PathState path;
  Timestamp now{0};
  double queue_bytes = 0;
  double unsent_bytes = 0;
  uint64_t packets = 0;
  uint64_t loss_every = 0;  // random loss: one packet in loss_every (0: none)
  uint32_t timeouts_since_ack = 0;  // as the stream counts them for LossSample
  double acked_messages = 0;       // fractions of a message acknowledged, not yet counted
  std::deque<InFlight> in_flight;

  void step(Duration base, double capacity, Duration extra) {
    now += Duration::milliseconds(1);
    const double send = cc.rate_bytes_per_s() / 1000;
    // Whole 1200-byte packets, as the stream reports them.
    unsent_bytes += send;
    for (; unsent_bytes >= 1200; unsent_bytes -= 1200) {
      cc.on_send(SendSample{now, 1200, false});
      if (loss_every > 0 && ++packets % loss_every == 0) lose(false);
    }
    queue_bytes += send;
    if (queue_bytes > capacity * 0.1) {  // 100 ms drop-tail buffer
      queue_bytes = capacity * 0.1;
      lose(false);
    }
    const double served = std::min(queue_bytes, capacity / 1000);
    queue_bytes -= served;
    const Duration queue_delay = Duration::nanoseconds(static_cast<int64_t>(queue_bytes / capacity * 1e9));
    in_flight.push_back({now + base + queue_delay, served, base + queue_delay + extra});
    while (!in_flight.empty() && in_flight.front().ack_at <= now) {
      const InFlight f = in_flight.front();
      in_flight.pop_front();
      path.latest_rtt = f.rtt;
      if (!path.has_rtt_sample) {
        path.srtt = f.rtt;
        path.has_rtt_sample = true;
      } else {
        path.srtt = (path.srtt * 7 + f.rtt) / 8;
      }
      path.min_rtt = std::min(path.min_rtt, f.rtt);
      path.base_delay.on_rtt(now, f.rtt);  // as RttEstimator does for the stream
      AckSample s;
      s.now = now;
      s.rtt = f.rtt;
      s.has_rtt = true;
      s.bytes_acked = static_cast<uint64_t>(f.bytes);
      // The fluid model serves fractions of a message per step; whole ones are acknowledged.
      acked_messages += f.bytes / 1200;
      s.messages_acked = static_cast<uint64_t>(acked_messages);
      acked_messages -= static_cast<double>(s.messages_acked);
      if (s.bytes_acked > 0) timeouts_since_ack = 0;
      cc.on_ack(s, path);
    }
  }
  void run(int ms, double capacity, Duration extra = Duration{0}) {
    for (int i = 0; i < ms; ++i) step(Duration::milliseconds(40), capacity, extra);
  }
  void lose(bool timeout) {
    LossSample l;
    l.now = now;
    l.bytes_lost = 1200;
    l.is_timeout = timeout;
    if (timeout) l.timeouts_since_ack = ++timeouts_since_ack;
    cc.on_loss(l, path);
  }
};

}  // namespace

TEST_CASE("chicago start-up doubles per RTT and leaves on a delay rise, then drains and cruises") {
  SyntheticPath p;
  p.run(100, 1e12);
  const double r0 = p.cc.rate_bytes_per_s();
  p.run(400, 1e12);  // ten RTTs on an unlimited path
  CHECK(p.cc.mode() == ChicagoController::Mode::startup);
  CHECK(p.cc.rate_bytes_per_s() > r0 * 200);

  SyntheticPath q;
  const double capacity = 2.5e6;  // 20 Mbit/s
  while (q.cc.mode() == ChicagoController::Mode::startup && q.now < at_ms(5000)) q.run(1, capacity);
  CHECK(q.cc.mode() == ChicagoController::Mode::drain);
  CHECK(q.cc.rate_bytes_per_s() < capacity);
  q.run(1000, capacity);
  CHECK(q.cc.mode() == ChicagoController::Mode::cruise);
  CHECK(q.cc.base_delay() == Duration::milliseconds(40));
  CHECK(q.queue_bytes < capacity * 0.010);
}

TEST_CASE("chicago ignores random loss without a delay rise") {
  const double capacity = 2.5e6;
  const auto average_rate = [&](uint64_t loss_every) {
    SyntheticPath p;
    p.loss_every = loss_every;
    p.run(2000, capacity);
    double sum = 0;
    for (int i = 0; i < 1000; ++i) {
      p.run(10, capacity);
      sum += p.cc.rate_bytes_per_s();
    }
    return sum / 1000;
  };
  const double clean = average_rate(0);
  const double lossy = average_rate(100);  // 1% random loss
  CHECK(clean > capacity * 0.85);
  CHECK(lossy > clean * 0.85);
}

TEST_CASE("chicago: a delay-triggered cut keeps 0.9 of the delivery rate; a queue that stays does not") {
  SyntheticPath p;
  const double capacity = 2.5e6;
  p.run(3000, capacity);
  REQUIRE(p.cc.mode() == ChicagoController::Mode::cruise);
  // 6 ms of extra delay (above the 5 ms high-water mark) for 100 ms (longer than the
  // 25 ms queue filter plus an RTT): one cut, floored at 0.9 of what the path delivered
  // (a plain 0.85 cut would go below it).
  const double before = p.cc.rate_bytes_per_s();
  p.run(100, capacity, Duration::milliseconds(6));
  CHECK(p.cc.rate_bytes_per_s() < before);
  CHECK(p.cc.rate_bytes_per_s() >= capacity * 0.9 * 0.99);
  // The delay stays at twice the mark whatever we do: further cuts ignore the floor.
  p.run(400, capacity, Duration::milliseconds(12));
  CHECK(p.cc.rate_bytes_per_s() < capacity * 0.8);
}

TEST_CASE("chicago's retransmission timeout is at least 50 ms, even on a 100 us path") {
  SeededRng rng{1};
  ChicagoController cc{rng, Timestamp{0}};
  PathState path;
  path.has_rtt_sample = true;
  path.srtt = Duration::microseconds(100);
  path.rttvar = Duration::microseconds(20);
  CHECK(cc.retransmit_timeout(path) >= Duration::milliseconds(50));
}

namespace {

// 4 s at 1% random loss, then 200 ms without: in cruise, with a long-term loss of ~1%.
void cruise_after_random_loss(SyntheticPath& p, double capacity) {
  p.loss_every = 100;
  p.run(4000, capacity);
  REQUIRE(p.cc.mode() == ChicagoController::Mode::cruise);
  p.loss_every = 0;
  p.run(200, capacity);
}

}  // namespace

TEST_CASE("chicago backs off on a loss burst and on repeated timeouts, not on a single loss") {
  SyntheticPath p;
  const double capacity = 2.5e6;
  cruise_after_random_loss(p, capacity);
  // A single loss while the queue delay is up by 4 ms (below the 5 ms high-water mark)
  // is not congestion by itself: the delay has its own response.
  p.run(120, capacity, Duration::milliseconds(4));
  double before = p.cc.rate_bytes_per_s();
  p.lose(false);
  CHECK(p.cc.rate_bytes_per_s() == before);
  // A burst of loss far above the long-term 1% (one packet in three), without delay.
  p.run(200, capacity);
  before = p.cc.rate_bytes_per_s();
  p.loss_every = 3;
  p.run(40, capacity);
  p.loss_every = 0;
  CHECK(p.cc.rate_bytes_per_s() < before);
  // A lone timeout is one lost packet; a second one without an ack in between halves
  // the rate, and a third within the same RTT changes nothing more.
  p.run(100, capacity);
  before = p.cc.rate_bytes_per_s();
  p.lose(true);
  CHECK(p.cc.rate_bytes_per_s() == before);
  p.lose(true);
  CHECK(p.cc.rate_bytes_per_s() == doctest::Approx(before * 0.5));
  p.lose(true);
  CHECK(p.cc.rate_bytes_per_s() == doctest::Approx(before * 0.5));
}

TEST_CASE("chicago counts the loss fraction over acknowledged messages, not over sends") {
  // A sender that the window or the peer's buffer stops sends nothing while the
  // acknowledgements and loss reports of what is in flight come in. 1% random loss
  // among them is still 1%: with the fraction decaying per send, 20 single losses in a
  // row read as a burst and cut the rate (simulator, 200 Mbit/s, 100 ms, 1% loss).
  SyntheticPath p;
  const double capacity = 2.5e6;
  cruise_after_random_loss(p, capacity);
  const double before = p.cc.rate_bytes_per_s();
  for (int i = 1; i <= 2000; ++i) {
    AckSample s;
    s.now = p.now;
    s.bytes_acked = 1200;
    s.messages_acked = 1;
    p.cc.on_ack(s, p.path);
    if (i % 100 == 0) p.lose(false);
  }
  CHECK(p.cc.rate_bytes_per_s() == before);
}

TEST_CASE("chicago switches to competitive mode when the queue stays high whatever it does") {
  SyntheticPath p;
  const double capacity = 2.5e6;
  p.run(2000, capacity);
  REQUIRE(p.cc.mode() == ChicagoController::Mode::cruise);
  // Another flow keeps 60 ms of queue standing, regardless of our rate.
  p.run(5000, capacity, Duration::milliseconds(60));
  CHECK(p.cc.mode() == ChicagoController::Mode::competitive);
  // The competitor leaves: a probe sees the queue empty and returns to cruise.
  p.run(12000, capacity);
  CHECK(p.cc.mode() == ChicagoController::Mode::cruise);
}

TEST_CASE("in competitive mode chicago regrows after a loss event along CUBIC's curve, whatever the base RTT") {
  // A 10 ms path with 90 ms of queue that someone else keeps standing: srtt 100 ms. CUBIC
  // (RFC 9438) regrows a window cut to 0.7 W_max along W_max - C (K - t)^3, reaching
  // W_max after K = cbrt(0.3 W_max / C) (C = 0.4 segments of 1448 bytes per s^3): a
  // quarter of the way after K / 2 ... Chicago's rate is that window over the srtt. The
  // additive increase it had before grew 4x faster on a 10 ms path than on a 40 ms one
  // and took 0.81-0.85 of a 10 Mbit/s, 10 ms link from CUBIC (netlab).
  SyntheticPath p;
  const auto run = [&](int ms) {
    for (int i = 0; i < ms; ++i) p.step(Duration::milliseconds(10), 1e12, Duration::milliseconds(90));
  };
  // Start-up and cruise on the bare 10 ms path (20 Mbit/s), then the standing queue.
  for (int i = 0; i < 2000; ++i) p.step(Duration::milliseconds(10), 2.5e6, Duration{0});
  for (int i = 0; i < 8000 && p.cc.mode() != ChicagoController::Mode::competitive; ++i) run(1);
  REQUIRE(p.cc.mode() == ChicagoController::Mode::competitive);
  // Measured before its first probe (10 s after the entry) halves the rate.
  run(500);
  const double before = p.cc.rate_bytes_per_s();
  p.lose(false);
  const double after = p.cc.rate_bytes_per_s();
  CHECK(after == doctest::Approx(before * 0.7));
  const double w_max_segments = before * 0.1 / 1448;
  const double k_s = std::cbrt(0.3 * w_max_segments / 0.4);
  REQUIRE(k_s > 2);  // long enough to sample the curve
  const auto regained = [&] { return (p.cc.rate_bytes_per_s() - after) / (before - after); };
  run(static_cast<int>(k_s * 500));
  // Concave: 1 - (1/2)^3 of the way at K / 2 (a linear regrowth would be at 1/2).
  CHECK(regained() == doctest::Approx(0.875).epsilon(0.05));
  run(static_cast<int>(k_s * 500));
  CHECK(regained() == doctest::Approx(1.0).epsilon(0.03));
  // Then the plateau, and convex growth beyond W_max (probing for more).
  run(500);
  CHECK(regained() < 1.02);
  CHECK(p.cc.mode() == ChicagoController::Mode::competitive);
}

TEST_CASE("a weighted flow in competitive mode gives up (1 - 0.7) / N per loss event") {
  SeededRng rng{1};
  for (const double weight : {2.0, 4.0}) {
    SyntheticPath p;
    p.cc = ChicagoController(rng, Timestamp{0}, weight);
    for (int i = 0; i < 2000; ++i) p.step(Duration::milliseconds(10), 2.5e6, Duration{0});
    for (int i = 0; i < 8000; ++i) p.step(Duration::milliseconds(10), 1e12, Duration::milliseconds(90));
    REQUIRE(p.cc.mode() == ChicagoController::Mode::competitive);
    const double before = p.cc.rate_bytes_per_s();
    p.lose(false);
    CHECK(p.cc.rate_bytes_per_s() == doctest::Approx(before * (1 - 0.3 / weight)));
  }
}

TEST_CASE("controllers are created by name") {
  SeededRng rng(1);
  auto chicago = make_controller("chicago", rng, Timestamp{0});
  REQUIRE(chicago);
  CHECK(chicago->name() == "chicago");
  CHECK(make_controller("no-such-controller", rng, Timestamp{0}) == nullptr);
}
