// UDP batching and the timer, on loopback.
#include <doctest/doctest.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

#include "daemon/event_loop.h"
#include "daemon/timer.h"
#include "daemon/udp_socket.h"

using namespace curvecp;

namespace {

Address loopback(Address::Family family) {
  return *Address::parse(family == Address::Family::ipv4 ? "127.0.0.1" : "::1", 0);
}

// Sends `count` packets of `size` bytes (the last one `last_size`) from one socket to
// another in one flush and checks that every one arrives intact, in one or more batches.
void exchange(Address::Family family, bool gso, bool gro, size_t count, size_t size, size_t last_size) {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  std::vector<std::vector<uint8_t>> received;
  Address sender_address;
  UdpSocketOptions options;
  options.allow_gso = gso;
  options.allow_gro = gro;
  auto rx = UdpSocket::open(
      l, loopback(family),
      [&](std::span<const Datagram> batch, Timestamp) {
        CHECK(batch.size() <= UdpSocket::kReceiveBatch * 64);
        for (const auto& d : batch) {
          CHECK(d.from == sender_address);
          received.emplace_back(d.data.begin(), d.data.end());
        }
        if (received.size() >= count) l.stop();
      },
      options);
  REQUIRE(rx);
  auto tx = UdpSocket::open(l, loopback(family), [](std::span<const Datagram>, Timestamp) {}, options);
  REQUIRE(tx);
  sender_address = tx.value()->local_address();
  CHECK(sender_address.port != 0);
  const Address to = rx.value()->local_address();

  for (size_t i = 0; i < count; ++i) {
    MutableBytes buf = tx.value()->prepare_send();
    REQUIRE(buf.size() == UdpSocket::kMaxSendBytes);
    size_t n = i + 1 == count ? last_size : size;
    for (size_t k = 0; k < n; ++k) buf[k] = static_cast<uint8_t>(i * 7 + k);
    tx.value()->commit_send(to, n);
  }
  CHECK(tx.value()->send_queue_size() == count);
  tx.value()->flush();

  // Bounded wait: the test fails rather than hangs if datagrams go missing.
  auto t = Timer::create(l, [&](Timestamp) { l.stop(); });
  REQUIRE(t);
  t.value()->arm(l.update_now() + Duration::seconds(5));
  REQUIRE(l.run());

  REQUIRE(received.size() == count);
  for (size_t i = 0; i < count; ++i) {
    size_t n = i + 1 == count ? last_size : size;
    REQUIRE(received[i].size() == n);
    bool intact = true;
    for (size_t k = 0; k < n; ++k) intact = intact && received[i][k] == static_cast<uint8_t>(i * 7 + k);
    CHECK(intact);
  }
  CHECK(tx.value()->stats().datagrams_sent == count);
  CHECK(tx.value()->send_queue_size() == 0);
  if (gso && tx.value()->gso_enabled()) {
    // Runs of equal-size packets to one address go out as super-datagrams.
    CHECK(tx.value()->stats().gso_sends > 0);
    CHECK(tx.value()->stats().send_calls < count);
  } else {
    CHECK(tx.value()->stats().gso_sends == 0);
  }
}

}  // namespace

TEST_CASE("udp: IPv4 batched send and receive, with and without GSO/GRO") {
  SUBCASE("gso+gro") { exchange(Address::Family::ipv4, true, true, 300, 1184, 200); }
  SUBCASE("gso, no gro") { exchange(Address::Family::ipv4, true, false, 300, 1152, 1152); }
  SUBCASE("plain") { exchange(Address::Family::ipv4, false, false, 300, 1184, 80); }
}

TEST_CASE("udp: a GRO socket reads a flood of small datagrams 64 per call, then says the wake-up is done") {
  // A handshake flood: single small datagrams the kernel cannot coalesce. A GRO socket
  // offers 8 buffers of 64 KiB per recvmmsg; once they come back holding one small
  // datagram each it offers kReceiveBatch, so the flood costs one call per 64, not per 8.
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  constexpr size_t kCount = 640;
  size_t received = 0, batches = 0, done = 0, batches_at_done = 0;
  bool done_after_batches = true;
  UdpSocketOptions gro;
  gro.allow_gro = true;
  auto rx = UdpSocket::open(
      l, loopback(Address::Family::ipv4),
      [&](std::span<const Datagram> batch, Timestamp) {
        ++batches;
        for (const auto& d : batch) received += d.data.size() == 200 ? 1 : 0;
      },
      gro);
  REQUIRE(rx);
  rx.value()->set_receive_done_handler([&](Timestamp) {
    ++done;
    done_after_batches = done_after_batches && batches > batches_at_done;  // one call per wake-up with data
    batches_at_done = batches;
    if (received >= kCount) l.stop();
  });
  UdpSocketOptions plain;
  plain.allow_gso = false;
  auto tx = UdpSocket::open(l, loopback(Address::Family::ipv4), [](std::span<const Datagram>, Timestamp) {}, plain);
  REQUIRE(tx);
  const Address to = rx.value()->local_address();
  // All queued in the receiver's socket before its loop runs (8 MiB of buffer holds them).
  for (size_t sent = 0; sent < kCount;) {
    while (sent < kCount && tx.value()->send_queue_free() > 0) {
      MutableBytes buf = tx.value()->prepare_send();
      std::memset(buf.data(), static_cast<int>(sent), 200);
      tx.value()->commit_send(to, 200);
      ++sent;
    }
    tx.value()->flush();
    REQUIRE(tx.value()->send_queue_size() == 0);
  }
  auto t = Timer::create(l, [&](Timestamp) { l.stop(); });
  REQUIRE(t);
  t.value()->arm(l.update_now() + Duration::seconds(5));
  REQUIRE(l.run());
  CHECK(received == kCount);
  CHECK(done >= 1);
  CHECK(done_after_batches);
  CHECK(batches_at_done == batches);  // the last batch was followed by the done handler
  if (rx.value()->gro_enabled()) {
    // 8 in the first call, then 64 per call: 11; before, 80.
    CHECK(rx.value()->stats().receive_calls <= 12);
  }
}

TEST_CASE("udp: IPv6 batched send and receive") {
  exchange(Address::Family::ipv6, true, true, 200, 1184, 96);
  exchange(Address::Family::ipv6, false, false, 50, 224, 224);
}

TEST_CASE("udp: mixed sizes and destinations are never merged wrongly") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  std::vector<std::vector<uint8_t>> got_a, got_b;
  auto a = UdpSocket::open(l, loopback(Address::Family::ipv4), [&](std::span<const Datagram> batch, Timestamp) {
    for (const auto& d : batch) got_a.emplace_back(d.data.begin(), d.data.end());
  });
  auto b = UdpSocket::open(l, loopback(Address::Family::ipv4), [&](std::span<const Datagram> batch, Timestamp) {
    for (const auto& d : batch) got_b.emplace_back(d.data.begin(), d.data.end());
  });
  auto tx = UdpSocket::open(l, loopback(Address::Family::ipv4), [](std::span<const Datagram>, Timestamp) {});
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(tx);
  // Sizes vary inside runs; destinations alternate in blocks.
  const size_t sizes[] = {1184, 1184, 600, 1184, 80, 80, 80, 1184, 1184, 1184};
  size_t expect_a = 0, expect_b = 0;
  for (int round = 0; round < 20; ++round) {
    for (size_t i = 0; i < 10; ++i) {
      bool to_a = (round % 3) != 0;
      std::vector<uint8_t> p(sizes[i], static_cast<uint8_t>(round * 10 + i));
      REQUIRE(tx.value()->send(to_a ? a.value()->local_address() : b.value()->local_address(), p));
      (to_a ? expect_a : expect_b) += 1;
    }
  }
  tx.value()->flush();
  // Poll every 10 ms until everything arrived; give up after 5 s.
  Timestamp give_up = l.update_now() + Duration::seconds(5);
  std::unique_ptr<Timer> tick;
  tick = std::move(Timer::create(l, [&](Timestamp now) {
                     if (got_a.size() + got_b.size() == expect_a + expect_b || now > give_up) {
                       l.stop();
                     } else {
                       tick->arm(now + Duration::milliseconds(10));
                     }
                   }).value());
  tick->arm(l.now());
  REQUIRE(l.run());
  REQUIRE(got_a.size() == expect_a);
  REQUIRE(got_b.size() == expect_b);
  // Every datagram is uniform (one fill byte) and has one of the sizes sent.
  for (const auto* got : {&got_a, &got_b}) {
    for (const auto& d : *got) {
      REQUIRE(!d.empty());
      bool uniform = std::all_of(d.begin(), d.end(), [&](uint8_t x) { return x == d[0]; });
      CHECK(uniform);
      CHECK(d.size() == sizes[d[0] % 10]);
    }
  }
}

TEST_CASE("udp: send queue fills, reports no space, and drains after flush") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  UdpSocketOptions options;
  options.send_queue_packets = 8;
  auto tx = UdpSocket::open(*loop.value(), loopback(Address::Family::ipv4), [](std::span<const Datagram>, Timestamp) {},
                            options);
  REQUIRE(tx);
  Address to = tx.value()->local_address();  // to itself: nothing reads, fine for 8 packets
  for (int i = 0; i < 8; ++i) {
    CHECK(tx.value()->send_queue_free() == static_cast<size_t>(8 - i));
    REQUIRE(tx.value()->send(to, std::vector<uint8_t>(100, 1)));
  }
  CHECK(tx.value()->prepare_send().empty());
  CHECK_FALSE(tx.value()->send(to, std::vector<uint8_t>(100, 1)));
  tx.value()->flush();
  CHECK(tx.value()->send_queue_size() == 0);
  CHECK(tx.value()->stats().datagrams_sent == 8);
}

TEST_CASE("udp: binding an address in use fails with a clear error") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  auto a = UdpSocket::open(*loop.value(), loopback(Address::Family::ipv4), [](std::span<const Datagram>, Timestamp) {});
  REQUIRE(a);
  auto b = UdpSocket::open(*loop.value(), a.value()->local_address(), [](std::span<const Datagram>, Timestamp) {});
  REQUIRE_FALSE(b);
  CHECK(b.error().message.find("bind") != std::string::npos);
}

TEST_CASE("timer: fires once, not before its deadline; re-arm replaces; never() disarms") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  int fired = 0;
  Timestamp fired_at{};
  auto t = Timer::create(l, [&](Timestamp now) {
    ++fired;
    fired_at = now;
  });
  REQUIRE(t);
  Timestamp start = l.update_now();
  t.value()->arm(start + Duration::milliseconds(500));
  t.value()->arm(start + Duration::milliseconds(20));  // replaces the 500 ms deadline
  auto s = Timer::create(l, [&](Timestamp) { l.stop(); });
  REQUIRE(s);
  s.value()->arm(start + Duration::milliseconds(200));
  REQUIRE(l.run());
  CHECK(fired == 1);
  CHECK(fired_at >= start + Duration::milliseconds(20));
  CHECK(t.value()->deadline() == Timestamp::never());

  // Disarmed: does not fire.
  t.value()->arm(l.update_now() + Duration::milliseconds(10));
  t.value()->disarm();
  s.value()->arm(l.update_now() + Duration::milliseconds(60));
  REQUIRE(l.run());
  CHECK(fired == 1);

  // Re-arming a due timer with another due deadline (arm with `now`) keeps it as it is:
  // no system call, and it still fires once; a future deadline replaces it.
  {
    const Timestamp now = l.update_now();
    t.value()->arm(now + Duration::seconds(30));
    t.value()->arm(now + Duration::seconds(20), now);
    CHECK(t.value()->deadline() == now + Duration::seconds(20));
    t.value()->arm(now - Duration::milliseconds(1), now);
    CHECK(t.value()->deadline() == now - Duration::milliseconds(1));
    t.value()->arm(now, now);
    CHECK(t.value()->deadline() == now - Duration::milliseconds(1));
    t.value()->arm(now + Duration::seconds(20), now);
    CHECK(t.value()->deadline() == now + Duration::seconds(20));
    t.value()->disarm();
  }

  // A deadline in the past fires on the next iteration.
  int before = fired;
  t.value()->arm(Timestamp{1});
  Timestamp give_up = l.update_now() + Duration::seconds(5);
  std::unique_ptr<Timer> poll;
  poll = std::move(Timer::create(l, [&](Timestamp now) {
                     if (fired > before || now > give_up) {
                       l.stop();
                     } else {
                       poll->arm(now + Duration::milliseconds(1));
                     }
                   }).value());
  poll->arm(l.now());
  REQUIRE(l.run());
  CHECK(fired == before + 1);
}

namespace {

// A loopback port nobody listens on: bound once to learn a free port, then closed.
Address dead_port(EventLoop& l, Address::Family family) {
  auto probe = UdpSocket::open(l, loopback(family), [](std::span<const Datagram>, Timestamp) {});
  REQUIRE(probe);
  Address dead = probe.value()->local_address();
  return dead;  // the socket closes here
}

// Runs the loop until done() or 5 s.
bool run_loop_until(EventLoop& l, const std::function<bool()>& done) {
  Timestamp give_up = l.update_now() + Duration::seconds(5);
  std::unique_ptr<Timer> tick;
  tick = std::move(Timer::create(l, [&](Timestamp now) {
                     if (done() || now > give_up) {
                       l.stop();
                     } else {
                       tick->arm(now + Duration::milliseconds(2));
                     }
                   }).value());
  tick->arm(l.now());
  REQUIRE(l.run());
  return done();
}

struct ReportedError {
  Address destination;
  int error;
};

void port_unreachable(Address::Family family) {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  const Address dead = dead_port(l, family);
  std::vector<ReportedError> errors;
  std::vector<std::vector<uint8_t>> received;
  auto rx = UdpSocket::open(l, loopback(family), [&](std::span<const Datagram> batch, Timestamp) {
    for (const auto& d : batch) received.emplace_back(d.data.begin(), d.data.end());
  });
  REQUIRE(rx);
  auto tx = UdpSocket::open(l, loopback(family), [](std::span<const Datagram>, Timestamp) {});
  REQUIRE(tx);
  UdpSocket& s = *tx.value();
  s.set_error_handler([&](const Address& to, int error, Timestamp) { errors.push_back({to, error}); });

  const uint8_t hello[] = {1, 2, 3};
  REQUIRE(s.send(dead, hello));
  s.flush();
  CHECK(run_loop_until(l, [&] { return !errors.empty(); }));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].destination == dead);
  CHECK(errors[0].error == ECONNREFUSED);
  CHECK(s.stats().icmp_errors == 1);
  CHECK(s.stats().send_errors == 0);

  // Again, but this time the error is still pending when the next flush runs (the loop
  // does not run in between): sendmmsg reports the pending ECONNREFUSED instead of
  // sending. That must neither drop the datagram in hand nor stop the socket.
  errors.clear();
  REQUIRE(s.send(dead, hello));
  s.flush();
  pollfd p{s.fd(), 0, 0};
  REQUIRE(::poll(&p, 1, 5000) == 1);  // POLLERR: the ICMP error has arrived
  CHECK((p.revents & POLLERR) != 0);
  const uint8_t live[] = {9, 8, 7, 6};
  REQUIRE(s.send(rx.value()->local_address(), live));
  s.flush();
  CHECK(s.send_queue_size() == 0);
  CHECK(run_loop_until(l, [&] { return !received.empty() && !errors.empty(); }));
  REQUIRE(received.size() == 1);
  CHECK(received[0] == std::vector<uint8_t>{9, 8, 7, 6});
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].destination == dead);
  CHECK(errors[0].error == ECONNREFUSED);
  CHECK(s.stats().send_errors == 0);
  CHECK(s.stats().datagrams_sent == 3);

  // Many at once: the queue is drained, every one reported, and the loop goes idle
  // (no busy loop on a stale error condition). Growing sizes keep GSO from merging
  // them into one super-datagram (which would draw one ICMP error); 20 stay within the
  // kernel's global ICMP burst (icmp_msgs_burst, 50 by default).
  errors.clear();
  const std::vector<uint8_t> filler(20, 0x55);
  for (size_t i = 0; i < 20; ++i) REQUIRE(s.send(dead, Bytes(filler.data(), i + 1)));
  s.flush();
  CHECK(run_loop_until(l, [&] { return errors.size() >= 20; }));
  CHECK(errors.size() == 20);
  for (const auto& e : errors) CHECK(e.error == ECONNREFUSED);
  pollfd q{s.fd(), POLLIN, 0};
  CHECK(::poll(&q, 1, 0) == 0);  // nothing left: no error condition, no data
}

}  // namespace

TEST_CASE("udp: ICMP port unreachable from a dead loopback port reaches the error handler (IPv4)") {
  port_unreachable(Address::Family::ipv4);
}

TEST_CASE("udp: ICMPv6 port unreachable from a dead loopback port reaches the error handler (IPv6)") {
  port_unreachable(Address::Family::ipv6);
}

TEST_CASE("udp: a datagram carries the kernel's receive time, not the time it was read") {
  // A process that is not scheduled reads its datagrams late; RTT samples must not
  // include that delay (the controllers read it as a queue).
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  Timestamp arrived{0};
  Timestamp handled{0};
  auto rx = UdpSocket::open(l, loopback(Address::Family::ipv4), [&](std::span<const Datagram> batch, Timestamp now) {
    REQUIRE(batch.size() == 1);
    arrived = batch[0].arrived;
    handled = now;
    l.stop();
  });
  REQUIRE(rx);
  auto tx = UdpSocket::open(l, loopback(Address::Family::ipv4), [](std::span<const Datagram>, Timestamp) {});
  REQUIRE(tx);
  auto t = Timer::create(l, [&](Timestamp) { l.stop(); });
  REQUIRE(t);
  // One datagram, read after the reader "was not scheduled" for `late_ms`; returns the
  // time it was sent.
  const auto round = [&](int late_ms) {
    handled = Timestamp{0};
    const Timestamp sent = l.update_now();
    const uint8_t byte = 42;
    REQUIRE(tx.value()->send(rx.value()->local_address(), Bytes(&byte, 1)));
    tx.value()->flush();
    poll(nullptr, 0, late_ms);
    t.value()->arm(l.update_now() + Duration::seconds(5));
    REQUIRE(l.run());
    REQUIRE(handled >= sent + Duration::milliseconds(late_ms));
    return sent;
  };
  // The kernel switches receive timestamps on for the whole host asynchronously (a
  // deferred static key) when the first socket asks for them; until then a datagram is
  // stamped when it is read. The daemon's socket lives long enough not to care; here,
  // wait (at most 2 s) until stamps are taken on arrival.
  for (int i = 0; i < 100; ++i) {
    round(20);
    if (arrived <= handled - Duration::milliseconds(10)) break;
  }
  const Timestamp sent = round(80);
  // The kernel's stamp is on CLOCK_REALTIME and is mapped onto the loop's monotonic clock;
  // loopback stamps a datagram microseconds after it is sent, so the mapping gets 1 ms.
  // With no margin this failed once in an ASan run (December 2026, cause not found) while
  // the check below, the point of the test, held.
  CHECK_MESSAGE(arrived >= sent - Duration::milliseconds(1), "arrived - sent = ", (arrived - sent).seconds_f() * 1e6, " us");
  CHECK(arrived <= handled - Duration::milliseconds(60));
}
