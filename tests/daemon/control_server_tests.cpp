// The control socket server (daemon/control_server.h) in a real libuv loop with real
// unix sockets: file mode, stale and live sockets, removal, one reply per request in
// order, many clients at once, and the bounds that keep the daemon safe from its
// clients (over-long, silent, non-reading, vanished, too many).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/control_client.h"
#include "daemon/control_protocol.h"
#include "daemon/control_server.h"
#include "daemon/event_loop.h"
#include "daemon/timer.h"
#include "daemon/unique_fd.h"

using namespace curvecp;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/curvecp-control-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// A loop with a ControlServer whose handler echoes "reply to <line>" (or `big_reply`
// for the line "big"), and helpers to run it until something has happened.
struct Harness {
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<Timer> tick;  // keeps the loop alive (the control handles do not)
  std::unique_ptr<ControlServer> server;
  std::string big_reply;
  int requests = 0;

  Harness() {
    // As serve and connect do (ignore_sigpipe): a vanished client is an EPIPE, not a signal.
    signal(SIGPIPE, SIG_IGN);
    loop = std::move(EventLoop::create().value());
    tick = std::move(Timer::create(*loop, [](Timestamp) {}).value());
  }
  ~Harness() {
    server.reset();
    tick.reset();
  }

  Result<std::unique_ptr<ControlServer>> open(const std::string& path, Duration timeout = Duration::seconds(10)) {
    return ControlServer::open(
        *loop, path,
        [this](std::string_view line, Timestamp) {
          ++requests;
          if (line == "big") return big_reply;
          return "reply to " + std::string(line) + "\n";
        },
        timeout);
  }

  // Runs the loop until `done` or `limit` has passed; returns done().
  bool run_until(const std::function<bool()>& done, Duration limit = Duration::seconds(10)) {
    const Timestamp end = loop->update_now() + limit;
    while (!done()) {
      const Timestamp now = loop->update_now();
      if (now >= end) return false;
      tick->arm(now + Duration::milliseconds(5));
      uv_run(loop->raw(), UV_RUN_ONCE);
    }
    return true;
  }
};

// A raw client socket connected to `path` (the kernel completes the connection from the
// listener's backlog, before the loop runs).
UniqueFd connect_raw(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  REQUIRE(connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(fcntl(fd.get(), F_SETFL, O_NONBLOCK) == 0);
  return fd;
}

void send_all(int fd, const std::string& s) {
  REQUIRE(send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

// Appends what is readable now to `into`; returns false once the peer has closed.
bool drain(int fd, std::string& into) {
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

// A socket file nobody listens on, as a killed daemon leaves behind.
void make_stale_socket(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  REQUIRE(bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(fd.get(), 1) == 0);
}

}  // namespace

TEST_CASE("control server: mode 0600, requests answered in order, file removed at the end") {
  TempDir dir;
  const std::string path = dir.path + "/sub/serve.sock";  // the directory is made, 0700
  Harness h;
  {
    auto server = h.open(path);
    REQUIRE_MESSAGE(server, (server ? "" : server.error().message));
    h.server = std::move(*server);
  }
  struct stat st{};
  REQUIRE(lstat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat((dir.path + "/sub").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  UniqueFd c = connect_raw(path);
  send_all(c.get(), "one\ntwo\r\nthree\n");  // pipelined: one reply each, in order
  std::string got;
  REQUIRE(h.run_until([&] {
    drain(c.get(), got);
    return got.size() >= 42;
  }));
  CHECK(got == "reply to one\nreply to two\r\nreply to three\n");

  h.server.reset();
  CHECK(lstat(path.c_str(), &st) != 0);
}

TEST_CASE("control server: a stale socket is replaced, a live one refused, other files kept") {
  TempDir dir;
  const std::string path = dir.path + "/c.sock";
  make_stale_socket(path);
  Harness a;
  auto first = a.open(path);
  REQUIRE_MESSAGE(first, (first ? "" : first.error().message));
  a.server = std::move(*first);

  Harness b;
  auto second = b.open(path);
  REQUIRE(!second);
  CHECK(second.error().message.find("another daemon is answering") != std::string::npos);
  CHECK(second.error().message.find(path) != std::string::npos);

  // The first still answers: the refused start did not touch its socket.
  UniqueFd c = connect_raw(path);
  send_all(c.get(), "x\n");
  std::string got;
  REQUIRE(a.run_until([&] {
    drain(c.get(), got);
    return got == "reply to x\n";
  }));

  const std::string file = dir.path + "/plain";
  { UniqueFd f(::open(file.c_str(), O_CREAT | O_WRONLY, 0600)); }
  auto not_socket = b.open(file);
  REQUIRE(!not_socket);
  CHECK(not_socket.error().message.find("not a socket") != std::string::npos);
  CHECK(std::filesystem::exists(file));

  auto too_long = b.open(dir.path + "/" + std::string(200, 'x'));
  REQUIRE(!too_long);
  CHECK(too_long.error().message.find("too long") != std::string::npos);
}

TEST_CASE("control server: a replaced file is not removed by the old server") {
  TempDir dir;
  const std::string path = dir.path + "/c.sock";
  Harness a;
  a.server = std::move(a.open(path).value());
  REQUIRE(unlink(path.c_str()) == 0);
  make_stale_socket(path);  // someone else's file now
  a.server.reset();
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("control server: many clients at once, and a crowd beyond the limit is told busy") {
  TempDir dir;
  const std::string path = dir.path + "/c.sock";
  Harness h;
  h.server = std::move(h.open(path).value());
  std::vector<UniqueFd> clients;
  for (size_t i = 0; i < kMaxControlClients + 3; ++i) {
    clients.push_back(connect_raw(path));
    // Accepted in batches: a unix connect blocks while the listen backlog is full.
    if (i % 16 == 15) h.run_until([] { return false; }, Duration::milliseconds(50));
  }
  std::vector<std::string> got(clients.size());
  // Accepted first: the first kMaxControlClients are served, the rest hear "busy".
  REQUIRE(h.run_until([&] { return h.server->client_count() == kMaxControlClients; }));
  for (size_t i = 0; i < clients.size(); ++i) send_all(clients[i].get(), "n" + std::to_string(i) + "\n");
  REQUIRE(h.run_until([&] {
    bool all = true;
    for (size_t i = 0; i < clients.size(); ++i) {
      drain(clients[i].get(), got[i]);
      all = all && got[i].find('\n') != std::string::npos;
    }
    return all;
  }));
  size_t busy = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    if (got[i].find("busy") != std::string::npos) {
      ++busy;
    } else {
      CHECK(got[i] == "reply to n" + std::to_string(i) + "\n");
    }
  }
  CHECK(busy == 3);
}

TEST_CASE("control server: over-long, silent, non-reading and vanished clients only end themselves") {
  TempDir dir;
  const std::string path = dir.path + "/c.sock";
  Harness h;
  h.big_reply = std::string(8 << 20, 'b') + "\n";  // far more than a socket buffer holds
  h.server = std::move(h.open(path, Duration::milliseconds(300)).value());

  UniqueFd too_long = connect_raw(path);
  send_all(too_long.get(), std::string(kMaxControlRequestBytes + 10, 'x'));
  UniqueFd silent = connect_raw(path);
  UniqueFd not_reading = connect_raw(path);
  send_all(not_reading.get(), "big\n");
  UniqueFd vanished = connect_raw(path);
  send_all(vanished.get(), "big\n");

  std::string long_reply;
  bool long_open = true;
  REQUIRE(h.run_until([&] {
    if (long_open) long_open = drain(too_long.get(), long_reply);
    return !long_open;
  }));
  CHECK(long_reply.find("request too long") != std::string::npos);
  CHECK(h.requests >= 1);
  vanished.reset();  // gone mid-reply

  // The silent and the non-reading client are closed after the client timeout.
  std::string ignored;
  REQUIRE(h.run_until([&] { return h.server->client_count() == 0; }));
  CHECK(!drain(silent.get(), ignored));

  // And the daemon still answers.
  UniqueFd c = connect_raw(path);
  send_all(c.get(), "still\n");
  std::string got;
  REQUIRE(h.run_until([&] {
    drain(c.get(), got);
    return got == "reply to still\n";
  }));
}

TEST_CASE("control client: no daemon, and a request answered by a server in another loop") {
  TempDir dir;
  const std::string path = dir.path + "/none.sock";
  auto none = control_request(path, "status\n", Duration::seconds(1));
  REQUIRE(!none);
  CHECK(none.error().message == "control socket " + path + ": no daemon is listening there");
  make_stale_socket(path);
  auto stale = control_request(path, "status\n", Duration::seconds(1));
  REQUIRE(!stale);
  CHECK(stale.error().message.find("no daemon is listening there") != std::string::npos);
  unlink(path.c_str());

  // A server that never answers: the client gives up at its time limit.
  const std::string mute = dir.path + "/mute.sock";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, mute.data(), mute.size());
  REQUIRE(bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(listener.get(), 4) == 0);
  auto late = control_request(mute, "status\n", Duration::milliseconds(200));
  REQUIRE(!late);
  CHECK(late.error().message.find("no reply in time") != std::string::npos);
}

TEST_CASE("stale connect sockets: only dead processes' connect.PID.sock files go") {
  TempDir dir;
  make_stale_socket(dir.path + "/connect.999999999.sock");  // no such process
  const std::string mine = dir.path + "/connect." + std::to_string(getpid()) + ".sock";
  make_stale_socket(mine);
  make_stale_socket(dir.path + "/serve.sock");
  { UniqueFd f(::open((dir.path + "/connect.999999998.sock").c_str(), O_CREAT | O_WRONLY, 0600)); }  // not a socket
  remove_stale_connect_sockets(dir.path);
  CHECK(!std::filesystem::exists(dir.path + "/connect.999999999.sock"));
  CHECK(std::filesystem::exists(mine));
  CHECK(std::filesystem::exists(dir.path + "/serve.sock"));
  CHECK(std::filesystem::exists(dir.path + "/connect.999999998.sock"));
}
