// UDP batching and the timer, on loopback.
#include <doctest/doctest.h>

#include <algorithm>
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
