// Test-only: two Streams wired back to back through an in-memory link on a virtual
// clock, with seeded loss, duplication and reordering, and application ends that write
// and read byte patterns. Deterministic for a given seed.
#pragma once

#include <algorithm>
#include <functional>
#include <cstdint>
#include <memory>
#include <queue>
#include <vector>

#include "core/rng.h"
#include "core/time.h"
#include "scheduler/stream.h"

namespace curvecp::test {

// Byte i of a test stream with this seed.
inline uint8_t pattern_byte(uint64_t seed, uint64_t i) {
  uint64_t x = (i / 8) * 0x9E3779B97F4A7C15ull + seed;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return static_cast<uint8_t>(x >> (8 * (i % 8)));
}

struct LinkConfig {
  Duration delay = Duration::milliseconds(10);  // one way
  double loss = 0;                              // probability per message
  double duplicate = 0;
  double reorder = 0;                           // probability of an extra random delay
  Duration reorder_extra = Duration::milliseconds(5);
  // Zero the padding right after the header, as a reference peer sends it: hides the
  // window extension (docs/EXTENSIONS.md), so the receiver sees a reference peer.
  bool strip_extension = false;
  // Deliveries are rounded up to a multiple of this (0: exact), so messages arrive in
  // batches, as a runtime reading many datagrams per wake-up sees them.
  Duration batch{0};
  double rate_bytes_per_s = 0;                  // 0: unlimited
};

// One direction of the link.
class Link {
 public:
  Link(LinkConfig c, uint64_t seed) : config_(c), rng_(seed) {}

  void send(Timestamp now, const uint8_t* data, size_t n) {
    ++sent_;
    if (rng_.unit() < config_.loss) {
      ++dropped_;
      return;
    }
    Timestamp at = now + config_.delay;
    if (config_.rate_bytes_per_s > 0) {
      // Serialisation at the bottleneck, unbounded queue.
      const Duration tx{static_cast<int64_t>(static_cast<double>(n) * 1e9 / config_.rate_bytes_per_s)};
      busy_until_ = std::max(busy_until_, now) + tx;
      at = busy_until_ + config_.delay;
    }
    if (rng_.unit() < config_.reorder) at += Duration{static_cast<int64_t>(rng_.uniform(config_.reorder_extra.ns))};
    if (config_.batch.ns > 0) at = Timestamp{(at.ns + config_.batch.ns - 1) / config_.batch.ns * config_.batch.ns};
    push(at, data, n);
    if (rng_.unit() < config_.duplicate) push(at + Duration::microseconds(100), data, n);
  }
  bool has_due(Timestamp now) const { return !queue_.empty() && queue_.top().at <= now; }
  Timestamp next_time() const { return queue_.empty() ? Timestamp::never() : queue_.top().at; }
  std::vector<uint8_t> pop() {
    std::vector<uint8_t> m = std::move(const_cast<Item&>(queue_.top()).bytes);
    queue_.pop();
    return m;
  }
  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }
  void set_loss(double loss) { config_.loss = loss; }
  // One-way delay of messages sent from now on (a route change).
  void set_delay(Duration delay) { config_.delay = delay; }

 private:
  struct Item {
    Timestamp at;
    uint64_t order;
    std::vector<uint8_t> bytes;
    bool operator>(const Item& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  void push(Timestamp at, const uint8_t* data, size_t n) {
    std::vector<uint8_t> bytes(data, data + n);
    if (config_.strip_extension && n >= 64) std::fill(bytes.begin() + 48, bytes.begin() + 64, 0);
    queue_.push(Item{at, order_++, std::move(bytes)});
  }
  LinkConfig config_;
  SeededRng rng_;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> queue_;
  uint64_t order_ = 0;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
  Timestamp busy_until_{0};
};

// An application end: writes `to_send` pattern bytes then closes (with failure if asked),
// reads and checks everything that arrives.
struct AppEnd {
  uint64_t send_seed = 0;
  uint64_t to_send = 0;
  bool fail = false;
  uint64_t written = 0;
  bool closed = false;
  uint64_t recv_seed = 0;
  uint64_t received = 0;
  bool corrupt = false;
  size_t read_chunk = 65536;  // 0: the application never reads
};

struct PairResult {
  bool finished = false;
  Timestamp end_time;
  uint64_t iterations = 0;
};

class StreamPair {
 public:
  StreamPair(const StreamConfig& a, const StreamConfig& b, LinkConfig link, uint64_t seed)
      : rng_a_(seed * 3 + 1), rng_b_(seed * 3 + 2), ab_(link, seed * 7 + 3), ba_(link, seed * 7 + 4) {
    a_ = std::move(Stream::create(a, rng_a_, now_).value());
    b_ = std::move(Stream::create(b, rng_b_, now_).value());
  }

  Stream& a() { return *a_; }
  Stream& b() { return *b_; }
  Link& ab() { return ab_; }
  Link& ba() { return ba_; }
  Timestamp now() const { return now_; }
  AppEnd app_a, app_b;
  // Called after every message put on a link, with the sender's index (0 = a).
  std::function<void(int, const uint8_t*, size_t)> on_wire;
  // Called before a message is handed to a stream, with the receiver's index (0 = a).
  std::function<void(int, const std::vector<uint8_t>&)> on_deliver;
  // Called once per loop iteration.
  std::function<void()> on_step;
  // Longest virtual time between iterations (for applications driven by on_step).
  Duration max_step = Duration::infinite();

  // Runs until both streams are done() or `limit` of virtual time has passed.
  PairResult run(Duration limit) {
    PairResult r;
    const Timestamp stop = now_ + limit;
    std::vector<uint8_t> buf(2048);
    while (now_ < stop) {
      ++r.iterations;
      pump_app(*a_, app_a);
      pump_app(*b_, app_b);
      while (ab_.has_due(now_)) {
        auto m = ab_.pop();
        if (on_deliver) on_deliver(1, m);
        b_->on_message(now_, m);
      }
      while (ba_.has_due(now_)) {
        auto m = ba_.pop();
        if (on_deliver) on_deliver(0, m);
        a_->on_message(now_, m);
      }
      pump_app(*a_, app_a);
      pump_app(*b_, app_b);
      drain(*a_, ab_, 0, buf);
      drain(*b_, ba_, 1, buf);
      if (on_step) on_step();
      if (a_->done() && b_->done() && app_a.closed && app_b.closed) {
        r.finished = true;
        break;
      }
      Timestamp next = earliest(earliest(a_->next_timeout(), b_->next_timeout()),
                                earliest(ab_.next_time(), ba_.next_time()));
      if (max_step != Duration::infinite()) next = earliest(next, now_ + max_step);
      if (next == Timestamp::never()) break;  // deadlock: nothing will ever happen
      // The runtime's timers fire no earlier than 1 us after "now".
      now_ = std::max(next, now_ + Duration::microseconds(1));
    }
    r.end_time = now_;
    return r;
  }

 private:
  void pump_app(Stream& s, AppEnd& app) {
    uint8_t chunk[8192];
    while (app.written < app.to_send && s.send_space() > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>({sizeof chunk, app.to_send - app.written, s.send_space()}));
      for (size_t i = 0; i < n; ++i) chunk[i] = pattern_byte(app.send_seed, app.written + i);
      const size_t w = s.write(Bytes(chunk, n));
      app.written += w;
      if (w == 0) break;
    }
    if (app.written == app.to_send && !app.closed) {
      s.close_write(app.fail);
      app.closed = true;
    }
    while (app.read_chunk > 0 && s.readable() > 0) {
      const size_t n = s.read(MutableBytes(chunk, std::min(sizeof chunk, app.read_chunk)));
      for (size_t i = 0; i < n; ++i) {
        if (chunk[i] != pattern_byte(app.recv_seed, app.received + i)) app.corrupt = true;
      }
      app.received += n;
    }
  }
  void drain(Stream& s, Link& link, int who, std::vector<uint8_t>& buf) {
    for (int i = 0; i < 100000; ++i) {
      const size_t n = s.poll_transmit(now_, buf, 1088);
      if (n == 0) break;
      if (on_wire) on_wire(who, buf.data(), n);
      link.send(now_, buf.data(), n);
    }
  }

  Timestamp now_{1'000'000'000};
  SeededRng rng_a_, rng_b_;
  Link ab_, ba_;
  std::unique_ptr<Stream> a_, b_;
};

}  // namespace curvecp::test
