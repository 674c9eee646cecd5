// The reference-chicago controller against the numbers of CURVECP.md 7.
#include <doctest/doctest.h>

#include "core/rng.h"
#include "scheduler/congestion.h"
#include "scheduler/controllers.h"

using namespace curvecp;

namespace {

// N (ns per block) as the controller reports it through its rate.
int64_t n_of(const CongestionController& c) {
  return static_cast<int64_t>(1024.0 * 1e9 / c.rate_bytes_per_s() + 0.5);
}

AckSample sample(int64_t now_ns, int64_t rtt_ns) {
  AckSample s;
  s.now = Timestamp{now_ns};
  s.rtt = Duration{rtt_ns};
  s.has_rtt = true;
  return s;
}

LossSample timeout_at(int64_t now_ns) {
  LossSample l;
  l.now = Timestamp{now_ns};
  l.is_timeout = true;
  return l;
}

}  // namespace

TEST_CASE("reference-chicago: start state, one block per second, 1 s timeout (7.1, 7.2)") {
  SeededRng rng(1);
  auto c = make_controller("reference-chicago", rng, Timestamp{0});
  REQUIRE(c);
  CHECK(c->name() == "reference-chicago");
  PathState path;
  CHECK(n_of(*c) == 1'000'000'000);
  CHECK(c->retransmit_timeout(path) == Duration::seconds(1));
  // Never sent: may send at once, whatever the clock's zero.
  CHECK(c->next_send_time(Timestamp{-5}) == Timestamp{-5});
  c->on_send(SendSample{Timestamp{100}, 1088, false});
  CHECK(c->next_send_time(Timestamp{200}) == Timestamp{100 + 1'000'000'000});
  CHECK(c->next_send_time(Timestamp{2'000'000'000}) == Timestamp{2'000'000'000});
}

TEST_CASE("reference-chicago: first RTT sample, timeout formula, additive step, first doubling (7.3)") {
  SeededRng rng(1);
  auto c = make_controller("reference-chicago", rng, Timestamp{0});
  PathState path;
  c->on_send(SendSample{Timestamp{990'000'000}, 1088, false});
  c->on_ack(sample(1'000'000'000, 10'000'000), path);
  // Step 1: N = 10 ms, average 10 ms, deviation 5 ms. Step 2: deviation += (0 - 5 ms)/4
  // = 3.75 ms; timeout = 10 + 4 * 3.75 + 8 * 10 = 105 ms (N before the later steps).
  CHECK(c->retransmit_timeout(path) == Duration::microseconds(105'000));
  // Step 5 (1 s >= 16 N since the start): u = 10e6 >> 17 = 76, N = 10e6 - 76^3 = 9'561'024.
  // Step 6: no edge and no doubling yet, so N halves at once: 4'780'512.
  CHECK(n_of(*c) == 4'780'512);
  CHECK(c->next_send_time(Timestamp{990'000'000}) == Timestamp{990'000'000 + 4'780'512});
  // The next doubling waits 4 N + 2 timeout.
  c->on_ack(sample(1'001'000'000, 10'000'000), path);
  CHECK(n_of(*c) == 4'780'512);
}

TEST_CASE("reference-chicago: panic doubles N at most once per 4 timeouts (7.4)") {
  SeededRng rng(1);
  auto c = make_controller("reference-chicago", rng, Timestamp{0});
  PathState path;
  c->on_ack(sample(1'000'000'000, 10'000'000), path);
  const int64_t n0 = n_of(*c);
  const int64_t rto = c->retransmit_timeout(path).ns;
  c->on_loss(timeout_at(2'000'000'000), path);
  CHECK(n_of(*c) == 2 * n0);
  c->on_loss(timeout_at(2'000'000'000 + 4 * rto), path);  // not strictly later than 4 timeouts
  CHECK(n_of(*c) == 2 * n0);
  c->on_loss(timeout_at(2'000'000'000 + 4 * rto + 1), path);
  CHECK(n_of(*c) == 4 * n0);
  // Losses found by selective acknowledgements do not exist in the reference.
  LossSample sack_loss;
  sack_loss.now = Timestamp{9'000'000'000};
  c->on_loss(sack_loss, path);
  CHECK(n_of(*c) == 4 * n0);
}

TEST_CASE("reference-chicago: slow restart after 10 s without adjustment (7.3 step 5a)") {
  SeededRng rng(1);
  auto c = make_controller("reference-chicago", rng, Timestamp{0});
  PathState path;
  c->on_ack(sample(1'000'000'000, 1'000'000), path);
  c->on_ack(sample(20'000'000'000, 1'000'000), path);
  // N = 1 s + rand(125 ms), then the double-precision additive step takes it to about
  // 2.0-2.25 ms, then a doubling (no edge yet) halves it.
  const int64_t n = n_of(*c);
  CHECK(n >= 1'000'000);
  CHECK(n <= 1'130'000);
}

TEST_CASE("reference-chicago: a sustained RTT rise is an edge: the rate drops, doubling slows (7.3 step 5d)") {
  SeededRng rng(1);
  auto c = make_controller("reference-chicago", rng, Timestamp{0});
  PathState path;
  int64_t t = 1'000'000'000;
  for (int i = 0; i < 2000; ++i, t += 200'000) c->on_ack(sample(t, 1'000'000), path);
  const int64_t n_low = n_of(*c);
  int64_t n_max = n_low;
  for (int i = 0; i < 4000; ++i, t += 200'000) {
    c->on_ack(sample(t, 40'000'000), path);
    n_max = std::max(n_max, n_of(*c));
  }
  CHECK(n_max > n_low);
}
