// The stream <-> TCP bridge of port forwarding (daemon/tcp_bridge.h) with real Streams
// back to back in memory and real TCP connections on loopback: bytes both ways,
// half-close in each direction, a refused connect, and a reset.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "daemon/event_loop.h"
#include "daemon/signal_watcher.h"
#include "daemon/sockaddr.h"
#include "daemon/tcp_bridge.h"
#include "daemon/timer.h"
#include "daemon/unique_fd.h"
#include "scheduler/stream.h"

using namespace curvecp;

namespace {

// A listening socket on 127.0.0.1 with a kernel-chosen port.
struct Listener {
  UniqueFd fd;
  Address address;
  Listener() {
    fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    address = *Address::parse("127.0.0.1", 0);
    sockaddr_storage ss{};
    socklen_t len = to_sockaddr(address, ss);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0);
    REQUIRE(::listen(fd.get(), 4) == 0);
    len = sizeof ss;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0);
    address = from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
};

struct BridgeRig {
  SeededRng rng{11};
  std::unique_ptr<EventLoop> loop = std::move(EventLoop::create().value());
  std::unique_ptr<Stream> near;  // the bridge's stream
  std::unique_ptr<Stream> far;   // the CurveCP peer, driven by the test
  std::unique_ptr<TcpBridge> bridge;
  UniqueFd tcp_peer;             // the TCP side's other end, non-blocking
  std::string far_received;
  std::string tcp_received;
  bool tcp_eof = false;
  int tcp_error = 0;
  std::vector<uint8_t> buf = std::vector<uint8_t>(1088);
  std::vector<uint8_t> chunk = std::vector<uint8_t>(65536);

  BridgeRig() {
    ignore_sigpipe();
    StreamConfig a;
    a.role = StreamRole::server;
    a.send_buffer_bytes = 256 * 1024;
    a.receive_buffer_bytes = 256 * 1024;
    StreamConfig b = a;
    b.role = StreamRole::client;
    near = std::move(Stream::create(a, rng, loop->update_now()).value());
    far = std::move(Stream::create(b, rng, loop->now()).value());
  }

  // The bridge adopts one end of a fresh loopback TCP connection; the test keeps the other.
  void adopt() {
    Listener l;
    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage ss{};
    const socklen_t len = to_sockaddr(l.address, ss);
    REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0);
    UniqueFd accepted(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(accepted.valid());
    REQUIRE(set_nonblocking(client.get(), true));
    tcp_peer = std::move(client);
    auto b = TcpBridge::adopt(*loop, std::move(accepted), [this](Timestamp now) { shuttle(now); });
    REQUIRE(b);
    bridge = std::move(*b);
  }

  // Bridge I/O, then messages both ways, then the test's TCP end is drained.
  void shuttle(Timestamp now) {
    for (int round = 0; round < 1000; ++round) {
      bool moved = bridge && bridge->transfer(*near, now);
      while (size_t n = near->poll_transmit(now, buf, 1088)) {
        far->on_message(now, Bytes(buf.data(), n));
        moved = true;
      }
      while (size_t n = far->poll_transmit(now, buf, 1088)) {
        near->on_message(now, Bytes(buf.data(), n));
        moved = true;
      }
      while (size_t n = far->read(chunk)) far_received.append(reinterpret_cast<char*>(chunk.data()), n);
      moved |= drain_tcp();
      if (!moved) break;
    }
  }

  bool drain_tcp() {
    bool moved = false;
    while (tcp_peer.valid() && !tcp_eof && tcp_error == 0) {
      const ssize_t n = ::recv(tcp_peer.get(), chunk.data(), chunk.size(), 0);
      if (n > 0) {
        tcp_received.append(reinterpret_cast<char*>(chunk.data()), static_cast<size_t>(n));
        moved = true;
      } else if (n == 0) {
        tcp_eof = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        tcp_error = errno;
      } else {
        break;
      }
    }
    return moved;
  }

  // Runs the loop (shuttling every millisecond, `each` first) until done() or 20 s.
  bool run_until(const std::function<bool()>& done, const std::function<void()>& each = {}) {
    Timestamp give_up = loop->update_now() + Duration::seconds(20);
    std::unique_ptr<Timer> tick;
    tick = std::move(Timer::create(*loop, [&](Timestamp now) {
                       if (each) each();
                       shuttle(now);
                       if (done() || now > give_up) {
                         loop->stop();
                       } else {
                         tick->arm(now + Duration::milliseconds(1));
                       }
                     }).value());
    tick->arm(loop->now());
    REQUIRE(loop->run());
    return done();
  }
};

std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed)) % 251);
  return s;
}

}  // namespace

TEST_CASE("tcp bridge: HOST:PORT parsing") {
  auto a = parse_host_port("127.0.0.1:22");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 22);
  auto b = parse_host_port("[::1]:8080");
  REQUIRE(b);
  CHECK(b->host == "::1");
  CHECK(b->port == 8080);
  CHECK(parse_host_port("localhost:443")->host == "localhost");
  CHECK_FALSE(parse_host_port("::1:80"));  // IPv6 needs brackets
  CHECK_FALSE(parse_host_port("127.0.0.1"));
  CHECK_FALSE(parse_host_port(":22"));
  CHECK_FALSE(parse_host_port("host:0"));
  CHECK_FALSE(parse_host_port("host:65536"));
  CHECK_FALSE(parse_host_port("[]:22"));
  CHECK(resolve_tcp_address("127.0.0.1", 9)->to_string() == "127.0.0.1:9");
}

TEST_CASE("tcp bridge: bytes both ways, and each half-close carried through on its own") {
  BridgeRig rig;
  rig.adopt();
  const std::string up = pattern(3 << 20, 1);    // TCP side -> CurveCP peer: 12 times the buffer
  const std::string down = pattern(1 << 20, 2);  // CurveCP peer -> TCP side
  size_t up_sent = 0, down_sent = 0;
  bool up_closed = false, down_closed = false;
  auto feed = [&] {
    while (up_sent < up.size()) {
      const ssize_t n = ::send(rig.tcp_peer.get(), up.data() + up_sent, up.size() - up_sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      up_sent += static_cast<size_t>(n);
    }
    if (up_sent == up.size() && !up_closed) {
      // The TCP side finishes first; the other direction must go on.
      REQUIRE(::shutdown(rig.tcp_peer.get(), SHUT_WR) == 0);
      up_closed = true;
    }
    if (rig.far_received.size() < up.size() / 2) return;  // the download starts later
    while (down_sent < down.size() && rig.far->send_space() > 0) {
      down_sent += rig.far->write(Bytes(reinterpret_cast<const uint8_t*>(down.data()) + down_sent,
                                        std::min(rig.far->send_space(), down.size() - down_sent)));
    }
    if (down_sent == down.size() && !down_closed) {
      rig.far->close_write();
      down_closed = true;
    }
  };
  CHECK(rig.run_until([&] { return rig.bridge->finished() && rig.tcp_eof && rig.far->read_finished(); }, feed));
  CHECK_FALSE(rig.bridge->failed());
  CHECK(rig.far_received == up);
  CHECK_FALSE(rig.far->read_failed());  // the FIN became a clean EOF
  CHECK(rig.tcp_received == down);
  CHECK(rig.tcp_eof);                   // the peer's EOF became shutdown(SHUT_WR)
  CHECK(rig.bridge->stats().bytes_from_tcp == up.size());
  CHECK(rig.bridge->stats().bytes_to_tcp == down.size());
}

TEST_CASE("tcp bridge: a refused connect is a failure, never a clean end") {
  BridgeRig rig;
  Address dead;
  {
    Listener l;  // bound, then closed: nothing listens on that port any more
    dead = l.address;
  }
  auto b = TcpBridge::connect(*rig.loop, dead, Duration::seconds(5), [&](Timestamp now) { rig.shuttle(now); });
  REQUIRE(b);
  rig.bridge = std::move(*b);
  CHECK(rig.run_until([&] { return rig.far->read_finished(); }));
  CHECK(rig.bridge->failed());
  CHECK(rig.bridge->error() == "connect to " + dead.to_string() + ": connection refused");
  CHECK(rig.far->read_failed());
}

TEST_CASE("tcp bridge: reset() is a TCP reset for the peer, not an end of stream") {
  BridgeRig rig;
  rig.adopt();
  const std::string some = pattern(1000, 3);
  rig.far->write(Bytes(reinterpret_cast<const uint8_t*>(some.data()), some.size()));
  CHECK(rig.run_until([&] { return rig.tcp_received.size() == some.size(); }));
  rig.bridge->reset();  // what the owner does when the CurveCP side fails
  CHECK(rig.run_until([&] { return rig.tcp_error != 0 || rig.tcp_eof; }));
  CHECK(rig.tcp_error == ECONNRESET);
  CHECK_FALSE(rig.tcp_eof);
}

TEST_CASE("tcp bridge: a reset from the TCP side fails our direction with FAIL") {
  BridgeRig rig;
  rig.adopt();
  linger lg{1, 0};
  REQUIRE(::setsockopt(rig.tcp_peer.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  rig.tcp_peer.reset();  // RST
  CHECK(rig.run_until([&] { return rig.far->read_finished(); }));
  CHECK(rig.bridge->failed());
  CHECK(rig.far->read_failed());
  CHECK(rig.bridge->error().find("connection reset") != std::string::npos);
}

TEST_CASE("tcp bridge: a connect that does not complete in time fails, and says so") {
  BridgeRig rig;
  // A listener that never accepts, its queue filled: the kernel drops further SYNs, so a
  // connect stays in progress (loopback only, no unroutable address needed).
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  Address where = *Address::parse("127.0.0.1", 0);
  sockaddr_storage ss{};
  socklen_t len = to_sockaddr(where, ss);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0);
  REQUIRE(::listen(fd.get(), 0) == 0);
  len = sizeof ss;
  REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0);
  where = from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  std::vector<UniqueFd> fillers;
  for (int i = 0; i < 4; ++i) {
    fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    (void)::connect(fillers.back().get(), reinterpret_cast<sockaddr*>(&ss), len);
  }
  auto b = TcpBridge::connect(*rig.loop, where, Duration::milliseconds(300), [&](Timestamp now) { rig.shuttle(now); });
  REQUIRE(b);
  rig.bridge = std::move(*b);
  CHECK(rig.run_until([&] { return rig.far->read_finished(); }));
  CHECK(rig.bridge->failed());
  CHECK(rig.bridge->error() == "connect to " + where.to_string() + ": timed out");
  CHECK(rig.far->read_failed());
}
