// Connection::next_timeout against on_timer: a deadline the connection reports must be
// one at which on_timer has something to do, or the endpoint polls it again and again
// (daemon/server_endpoint.cpp retries a past deadline after 20 us).
#include <doctest/doctest.h>

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
