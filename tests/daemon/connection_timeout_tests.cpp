// Connection::next_timeout against on_timer: a deadline the connection reports must be
// one at which on_timer has something to do, or the endpoint polls it again and again
// (daemon/server_endpoint.cpp retries a past deadline after 20 us).
#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "daemon/connection.h"
#include "scheduler/stream.h"

using namespace curvecp;

TEST_CASE("connection: bytes in flight past the keepalive time do not make the deadline a past one") {
  SeededRng rng{11};
  const Timestamp start{Duration::seconds(1000).ns};
  StreamConfig sc;
  sc.role = StreamRole::server;
  auto stream = Stream::create(sc, rng, start);
  REQUIRE(stream);
  ConnectionConfig cc;
  cc.keepalive = Duration::seconds(15);
  cc.idle_timeout = Duration::seconds(120);
  Connection c(std::move(stream.value()), cc, start);

  // The program writes before a keepalive is due; the bytes go out and stay
  // unacknowledged (a slow peer) past the time a keepalive would have been due.
  Timestamp now = start + Duration::seconds(10);
  const std::string data = "unacknowledged";
  c.stream().write(Bytes(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  std::vector<uint8_t> out(1088);
  REQUIRE(c.poll_message(now, out, out.size()) > 0);
  REQUIRE(c.stream().stats().bytes_in_flight > 0);

  // Serve every deadline the connection reports (retransmissions) up to 30 s: each must
  // lie ahead of the time it was asked at once everything due then has been sent.
  const Timestamp until = start + Duration::seconds(30);
  int polls = 0;
  while (now < until && polls < 1000) {
    while (c.poll_message(now, out, out.size()) > 0) {
    }
    const Timestamp next = c.next_timeout();
    REQUIRE(next > now);  // a past deadline: the endpoint would spin on this connection
    now = next;
    ++polls;
  }
  CHECK(c.stream().stats().bytes_in_flight > 0);
  CHECK(polls < 100);  // retransmissions back off: a handful of deadlines, not a spin
}

namespace {

// Carries every due message between a Connection and a bare Stream (the peer) at `now`.
void exchange(Connection& c, Stream& peer, Timestamp now) {
  std::vector<uint8_t> out(1088);
  for (int round = 0; round < 8; ++round) {
    bool moved = false;
    while (!c.closed()) {
      const size_t n = c.poll_message(now, out, out.size());
      if (n == 0) break;
      peer.on_message(now, Bytes(out.data(), n));
      moved = true;
    }
    while (true) {
      const size_t n = peer.poll_transmit(now, out, out.size());
      if (n == 0) break;
      if (!c.closed()) c.on_message(now, Bytes(out.data(), n));
      moved = true;
    }
    if (!moved) break;
  }
}

// A server connection and a bare client stream (the peer) that has sent "hello"; the
// connection has just failed (aborted) at `now`.
struct AbortedPair {
  explicit AbortedPair(uint64_t seed) : rng{seed} {
    StreamConfig sc;
    sc.role = StreamRole::server;
    auto stream = Stream::create(sc, rng, now);
    StreamConfig pc;
    pc.role = StreamRole::client;
    auto peer_stream = Stream::create(pc, rng, now);
    REQUIRE(stream);
    REQUIRE(peer_stream);
    peer = std::move(peer_stream.value());
    c = std::make_unique<Connection>(std::move(stream.value()), cc, now);
    const std::string hello = "hello";
    peer->write(Bytes(reinterpret_cast<const uint8_t*>(hello.data()), hello.size()));
    exchange(*c, *peer, now);
    c->abort(now, EndReason::aborted);
  }
  SeededRng rng;
  Timestamp now{Duration::seconds(1000).ns};
  ConnectionConfig cc;
  std::unique_ptr<Stream> peer;
  std::unique_ptr<Connection> c;
};

}  // namespace

TEST_CASE("connection: a failed connection stays until the peer's answering end is acknowledged") {
  // The reference takes our FAIL as an end of stream (CURVECP.md 6.9): its program sees
  // end of input and exits, and it ends its own direction and waits for that end to be
  // acknowledged. Closing as soon as our FAIL was acknowledged left it resending to a
  // forgotten connection until its 10 s idle exit (a refused client, serve --allow).
  AbortedPair pair(12);
  Connection& c = *pair.c;
  Stream& peer = *pair.peer;
  Timestamp& now = pair.now;

  bool peer_ended = false;
  Timestamp fail_acknowledged = Timestamp::never();
  std::array<uint8_t, 256> buf;
  for (int step = 0; step < 3000 && !c.closed(); ++step) {
    now = now + Duration::milliseconds(1);
    exchange(c, peer, now);
    while (peer.read(MutableBytes(buf.data(), buf.size())) > 0) {
    }
    if (c.stream().write_finished() && fail_acknowledged == Timestamp::never()) fail_acknowledged = now;
    // The peer's program saw end of input after a few milliseconds and exited.
    if (peer.read_finished() && !peer_ended && now - fail_acknowledged >= Duration::milliseconds(5)) {
      peer.close_write();
      peer_ended = true;
    }
  }
  REQUIRE(c.closed());
  CHECK(c.reason() == EndReason::aborted);
  CHECK(peer.read_failed());
  CHECK(peer_ended);
  CHECK(peer.write_finished());  // its end was acknowledged before we went
  CHECK(now - fail_acknowledged < Duration::milliseconds(50));  // and we went then, not after the linger
}

TEST_CASE("connection: a failed connection whose peer never ends goes after a linger") {
  AbortedPair pair(13);
  Connection& c = *pair.c;
  Stream& peer = *pair.peer;
  Timestamp& now = pair.now;
  const ConnectionConfig& cc = pair.cc;
  Timestamp fail_acknowledged = Timestamp::never();
  for (int step = 0; step < 10000 && !c.closed(); ++step) {
    // Every deadline the connection reports is one it acts on (no past ones while open).
    const Timestamp next = c.next_timeout();
    now = next > now ? next : now + Duration::milliseconds(1);
    exchange(c, peer, now);
    if (c.stream().write_finished() && fail_acknowledged == Timestamp::never()) fail_acknowledged = now;
  }
  REQUIRE(c.closed());
  CHECK(c.reason() == EndReason::aborted);
  REQUIRE(fail_acknowledged != Timestamp::never());
  CHECK(now - fail_acknowledged >= cc.linger);
  CHECK(now - fail_acknowledged <= cc.linger + Duration::milliseconds(100));
}
