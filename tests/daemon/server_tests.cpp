// The server (libuv shell + ServerEndpoint) in-process on loopback: real ServerCrypto,
// Stream, programs and a real client engine (client/client_engine.h) driven by its own
// UDP socket in the same loop. Covers transfer through a program, environment, table
// full, roaming (with genuine replayed and forged packets), idle timeout with the
// program stopped, a client's FAIL stopping the program group, and draining.
#include <doctest/doctest.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "client/client_engine.h"
#include "crypto/init.h"
#include "crypto/keydir.h"
#include "crypto/server_name.h"
#include "crypto/sodium_rng.h"
#include "daemon/event_loop.h"
#include "daemon/server.h"
#include "daemon/signal_watcher.h"
#include "daemon/timer.h"
#include "daemon/udp_socket.h"

using namespace curvecp;

namespace {

const char* kName = "test.server.name";

// A key directory in a fresh temporary directory, removed at the end.
struct TempKeyDir {
  std::string root;
  std::string dir;
  explicit TempKeyDir(Rng& rng) {
    char tmpl[] = "/tmp/curvecp-daemon-test.XXXXXX";
    root = mkdtemp(tmpl);
    dir = root + "/key";
    REQUIRE(make_key_directory(dir, rng));
  }
  ~TempKeyDir() { std::filesystem::remove_all(root); }
};

// One client: a ClientEngine on its own socket and timer; the application side sends
// `upload` then closes, and collects what arrives.
struct TestClient {
  EventLoop& loop;
  std::unique_ptr<ClientEngine> engine;
  std::unique_ptr<UdpSocket> socket;
  std::unique_ptr<Timer> timer;
  std::string upload;
  size_t uploaded = 0;
  bool close_after_upload = true;
  std::string download;
  bool frozen = false;  // simulates a vanished client: stops sending and reading
  std::vector<uint8_t> first_initiate;  // a copy of the first Initiate sent (for replays)
  std::vector<uint8_t> last_packet;     // a copy of the last Client Message sent
  std::vector<uint8_t> packet = std::vector<uint8_t>(1184);
  std::vector<uint8_t> chunk = std::vector<uint8_t>(65536);

  TestClient(EventLoop& l, Rng& rng, const PublicKey& server_key, const Address& server, std::string data)
      : loop(l), upload(std::move(data)) {
    ClientEngineConfig cfg;
    cfg.crypto.server_long_term = server_key;
    cfg.crypto.server_name = encode_server_name(kName).value();
    KeyPair me = KeyPair::generate(rng);
    cfg.crypto.client_long_term_pk = me.pk;
    cfg.crypto.client_long_term_sk = std::move(me.sk);
    rng.fill(cfg.crypto.vouch_nonce);
    cfg.server = server;
    auto e = ClientEngine::create(std::move(cfg), rng, l.update_now());
    REQUIRE(e);
    engine = std::move(e.value());
    timer = std::move(Timer::create(l, [this](Timestamp now) { service(now); }).value());
    rebind();
  }

  // A new socket (new source port): the client "moves".
  void rebind() {
    const char* local = engine->server().family == Address::Family::ipv6 ? "::1" : "127.0.0.1";
    auto s = UdpSocket::open(loop, *Address::parse(local, 0), [this](std::span<const Datagram> batch, Timestamp now) {
      if (frozen) return;
      for (const auto& d : batch) engine->handle_datagram(now, d.from, d.data);
      service(now);
    });
    REQUIRE(s);
    socket = std::move(s.value());
  }

  void service(Timestamp now) {
    if (frozen) return;
    Stream& st = engine->stream();
    while (uploaded < upload.size() && st.send_space() > 0) {
      uploaded += st.write(Bytes(reinterpret_cast<const uint8_t*>(upload.data()) + uploaded, upload.size() - uploaded));
    }
    if (uploaded == upload.size() && close_after_upload && st.send_space() > 0) st.close_write();
    while (size_t n = st.read(chunk)) download.append(reinterpret_cast<char*>(chunk.data()), n);
    // The application is done once it has said everything and heard everything.
    if (uploaded == upload.size() && close_after_upload && st.read_finished()) {
      engine->connection().set_application_done(now, false);
    }
    while (size_t n = engine->poll_transmit(now, packet)) {
      if (first_initiate.empty() && n >= 560 && packet[7] == 'I') first_initiate.assign(packet.begin(), packet.begin() + n);
      if (packet[7] == 'M') last_packet.assign(packet.begin(), packet.begin() + n);
      socket->send(engine->server(), Bytes(packet.data(), n));
    }
    socket->flush();
    timer->arm(engine->next_timeout());
  }
};

struct Fixture {
  SodiumRng rng;
  TempKeyDir keys{rng};
  std::unique_ptr<EventLoop> loop = std::move(EventLoop::create().value());
  std::unique_ptr<KeyDirNonceSource> nonces = std::move(KeyDirNonceSource::open(keys.dir, true, rng).value());
  PublicKey server_key = load_public_key(keys.dir).value();
  std::unique_ptr<Server> server;

  Fixture() { REQUIRE(crypto_initialize()); ignore_sigpipe(); }

  void start(std::vector<std::string> program, uint32_t max_connections = 10,
             Duration idle_timeout = Duration::seconds(30), const char* ip = "127.0.0.1") {
    ServerConfig cfg;
    cfg.bind = *Address::parse(ip, 0);
    cfg.endpoint.name = encode_server_name(kName).value();
    cfg.endpoint.max_connections = max_connections;
    cfg.program = std::move(program);
    cfg.endpoint.connection.idle_timeout = idle_timeout;
    cfg.endpoint.connection.linger = Duration::milliseconds(200);
    cfg.endpoint.connection.close_timeout = Duration::milliseconds(500);
    cfg.stop_grace = Duration::milliseconds(500);
    auto s = Server::create(*loop, std::move(cfg), load_secret_key(keys.dir).value(), *nonces, rng);
    REQUIRE(s);
    server = std::move(s.value());
  }

  // A client that uploads `upload`, then closes its direction if `close` (otherwise the
  // test sets close_after_upload later and calls service()).
  std::unique_ptr<TestClient> client(std::string upload, bool close = true) {
    auto c = std::make_unique<TestClient>(*loop, rng, server_key, server->local_address(), std::move(upload));
    c->close_after_upload = close;
    c->service(loop->update_now());
    return c;
  }

  // Runs the loop until done() or `limit`; returns done().
  bool run_until(const std::function<bool()>& done, Duration limit = Duration::seconds(20)) {
    Timestamp give_up = loop->update_now() + limit;
    std::unique_ptr<Timer> tick;
    tick = std::move(Timer::create(*loop, [&](Timestamp now) {
                       if (done() || now > give_up) {
                         loop->stop();
                       } else {
                         tick->arm(now + Duration::milliseconds(5));
                       }
                     }).value());
    tick->arm(loop->now());
    REQUIRE(loop->run());
    return done();
  }
};

std::string random_text(Rng& rng, size_t n) {
  std::string s(n, '\0');
  rng.fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), n));
  return s;
}

}  // namespace

TEST_CASE("server: echo through the program, connection ends when both sides are done") {
  Fixture f;
  f.start({"cat"});
  const std::string data = random_text(f.rng, 300000);
  auto c = f.client(data);
  CHECK(f.run_until([&] { return c->engine->finished() && f.server->connection_count() == 0; }));
  CHECK(c->engine->phase() == ClientEngine::Phase::done);
  INFO(f.server->connection_lines(f.loop->update_now(), 5));
  INFO(f.server->counters_line());
  CHECK(f.server->connection_count() == 0);
  CHECK(c->download.size() == data.size());
  CHECK(c->download == data);
  CHECK(f.server->endpoint().events().get(ServerEvent::connection_accepted) == 1);
  // Ends either fully finished or, when the client exits without acknowledging our EOF
  // (client/client_engine.cpp stops sending once done), by the close timeout.
  CHECK(f.server->endpoint().events().get(ServerEvent::connection_finished) +
            f.server->endpoint().events().get(ServerEvent::connection_close_timeout) ==
        1);
  CHECK(f.server->endpoint().events().get(ServerEvent::hello_answered) >= 1);

  // A captured Initiate replayed after the end (cookie still valid) must not start the
  // program again (CURVECP.md 9 item 15).
  REQUIRE_FALSE(c->first_initiate.empty());
  auto replayer = UdpSocket::open(*f.loop, *Address::parse("127.0.0.1", 0), [](std::span<const Datagram>, Timestamp) {});
  REQUIRE(replayer);
  replayer.value()->send(f.server->local_address(), c->first_initiate);
  replayer.value()->flush();
  CHECK(f.run_until([&] { return f.server->endpoint().drops().get(DropReason::replayed_nonce) >= 1; }));
  CHECK(f.server->endpoint().events().get(ServerEvent::connection_accepted) == 1);
  CHECK(f.server->connection_count() == 0);
}

TEST_CASE("server: IPv6") {
  Fixture f;
  f.start({"sh", "-c", "printf '%s ' \"$CURVECPREMOTEIP\" \"$CURVECPLOCALIP\"; cat"}, 10, Duration::seconds(30), "::1");
  const std::string data = random_text(f.rng, 50000);
  auto c = f.client(data);
  CHECK(f.run_until([&] { return c->engine->finished(); }));
  CHECK(c->engine->phase() == ClientEngine::Phase::done);
  CHECK(c->download == "::1 ::1 " + data);
}

TEST_CASE("server: the program gets fd 0/1 and the CURVECP environment") {
  Fixture f;
  f.start({"sh", "-c",
           "printf '%s|%s|%s|%s|%s|%s|' \"$PROTO\" \"$CURVECPREMOTEIP\" \"$CURVECPREMOTEEXT\" "
           "\"$CURVECPLOCALIP\" \"$CURVECPLOCALPORT\" \"${#CURVECPREMOTEPK}\"; "
           "[ \"$CURVECPREMOTEPORT\" -gt 0 ] && echo port-ok; cat"});
  auto c = f.client("from the client\n");
  CHECK(f.run_until([&] { return c->engine->finished(); }));
  const std::string expect = "CURVECP|127.0.0.1|00000000000000000000000000000000|127.0.0.1|" +
                             std::to_string(f.server->local_address().port) + "|64|port-ok\nfrom the client\n";
  CHECK(c->download == expect);
}

TEST_CASE("server: a full table refuses new clients while the existing one continues") {
  Fixture f;
  // The program holds the connection open until the client's EOF arrives.
  f.start({"cat"}, /*max_connections=*/1);
  auto first = f.client(random_text(f.rng, 20000), false);
  CHECK(f.run_until([&] { return first->download.size() == 20000; }));
  CHECK(f.server->connection_count() == 1);

  auto second = f.client("refused");
  CHECK(f.run_until([&] { return f.server->endpoint().drops().get(DropReason::table_full) >= 1; }));
  CHECK(f.server->connection_count() == 1);
  CHECK(second->download.empty());

  // The first connection still works and finishes.
  first->close_after_upload = true;
  first->service(f.loop->update_now());
  CHECK(f.run_until([&] { return first->engine->finished() && f.server->connection_count() == 0; }));
  CHECK(first->engine->phase() == ClientEngine::Phase::done);
  // Now there is room: the second client's retransmitted Initiate gets in.
  CHECK(f.run_until([&] { return second->engine->finished(); }, Duration::seconds(30)));
  CHECK(second->download == "refused");
}

TEST_CASE("server: follows a client to a new address only on authenticated packets") {
  Fixture f;
  f.start({"cat"});
  const std::string data = random_text(f.rng, 200000);
  auto c = f.client(data.substr(0, 1000), false);
  CHECK(f.run_until([&] { return c->download.size() == 1000; }));
  // More data once the server has answered: it leaves in Client Messages, not Initiates.
  c->upload = data.substr(0, 1500);
  c->service(f.loop->update_now());
  CHECK(f.run_until([&] { return c->download.size() == 1500; }));

  // From another address: a bit-flipped copy of a genuine packet (the box does not open)
  // and the genuine packet itself (a replay: its nonce is not new). Neither may move the
  // connection; both are dropped and counted.
  REQUIRE(c->last_packet.size() > 64);
  auto forger = UdpSocket::open(*f.loop, *Address::parse("127.0.0.1", 0), [](std::span<const Datagram>, Timestamp) {});
  REQUIRE(forger);
  // Flip a bit in the packet's nonce (after magic 8, extensions 2 x 16, C' 32: offset 72,
  // little-endian), making it newer than anything seen: it passes the nonce check and must
  // fail the box, which is sealed under the original nonce (CURVECP.md 2.7, 3.8).
  std::vector<uint8_t> flipped = c->last_packet;
  flipped[72 + 6] ^= 0x40;
  const uint64_t box_drops = f.server->endpoint().drops().get(DropReason::message_box);
  const uint64_t replay_drops = f.server->endpoint().drops().get(DropReason::replayed_nonce);
  forger.value()->send(f.server->local_address(), flipped);
  forger.value()->flush();
  CHECK(f.run_until([&] { return f.server->endpoint().drops().get(DropReason::message_box) > box_drops; }));
  forger.value()->send(f.server->local_address(), c->last_packet);
  forger.value()->flush();
  CHECK(f.run_until([&] { return f.server->endpoint().drops().get(DropReason::replayed_nonce) > replay_drops; }));
  CHECK(f.server->endpoint().events().get(ServerEvent::roamed) == 0);
  // The connection still answers the client at its real address.
  c->upload = data.substr(0, 3000);
  c->service(f.loop->update_now());
  CHECK(f.run_until([&] { return c->download.size() == 3000; }));

  // The client moves to a new port and carries on.
  c->rebind();
  c->upload = data;
  c->close_after_upload = true;
  c->service(f.loop->update_now());
  CHECK(f.run_until([&] { return c->engine->finished(); }));
  INFO(c->engine->failure());
  INFO(f.server->counters_line());
  CHECK(c->download.size() == data.size());
  CHECK(c->download == data);
  CHECK(f.server->endpoint().events().get(ServerEvent::roamed) >= 1);
}

// A program that records its pid, so the test can see it go.
std::vector<std::string> recording_program(const std::string& dir, const std::string& body) {
  return {"sh", "-c", "echo $$ > " + dir + "/pid; " + body};
}

bool process_gone(const std::string& dir) {
  FILE* f = fopen((dir + "/pid").c_str(), "r");
  if (f == nullptr) return false;
  long pid = 0;
  const bool read = fscanf(f, "%ld", &pid) == 1;
  fclose(f);
  if (!read || pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  // A zombie has stopped too (this container's init reaps orphans only now and then).
  char state = '?';
  if (FILE* st = fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r")) {
    if (fscanf(st, "%*d (%*[^)]) %c", &state) != 1) state = '?';
    fclose(st);
  }
  return state == 'Z';
}

TEST_CASE("server: a vanished client times out and its program is stopped") {
  Fixture f;
  const std::string dir = f.keys.root;
  // The program would run for a minute; it must be stopped, not left behind.
  f.start(recording_program(dir, "cat; sleep 60"), 10, /*idle_timeout=*/Duration::milliseconds(600));
  auto c = f.client("hello", false);
  CHECK(f.run_until([&] { return c->download == "hello"; }));
  c->frozen = true;
  CHECK(f.run_until([&] { return f.server->connection_count() == 0; }, Duration::seconds(10)));
  CHECK(f.server->endpoint().events().get(ServerEvent::connection_failed) == 1);
  CHECK(f.run_until([&] { return process_gone(dir); }, Duration::seconds(5)));
}

TEST_CASE("server: a client's FAIL stops the program group before its input closes") {
  Fixture f;
  const std::string dir = f.keys.root;
  // A clean EOF would let cat finish and the marker appear.
  f.start(recording_program(dir, "cat > " + dir + "/upload; touch " + dir + "/done"));
  auto c = f.client(random_text(f.rng, 5000), false);
  CHECK(f.run_until([&] { return c->engine->stream().stats().bytes_sent == 5000; }));
  // The program has recorded its pid (on a loaded host the FAIL could otherwise stop it
  // before its first command, and no pid would ever show that it went).
  CHECK(f.run_until([&] {
    struct stat st{};
    return ::stat((dir + "/pid").c_str(), &st) == 0 && st.st_size > 0;
  }));
  c->engine->abort(f.loop->update_now());
  c->service(f.loop->now());
  CHECK(f.run_until([&] { return f.server->connection_count() == 0; }, Duration::seconds(10)));
  CHECK(f.server->endpoint().events().get(ServerEvent::connection_failed) == 1);
  CHECK(f.run_until([&] { return process_gone(dir); }, Duration::seconds(5)));
  CHECK(::access((dir + "/done").c_str(), F_OK) != 0);
}

TEST_CASE("server: a program that cannot be started fails its client at once") {
  Fixture f;
  // serve checks the program at start-up; this one vanished afterwards.
  f.start({f.keys.root + "/no-such-program"});
  auto c = f.client("hello", false);
  const Timestamp began = f.loop->update_now();
  CHECK(f.run_until([&] { return c->engine->finished(); }, Duration::seconds(10)));
  CHECK(c->engine->reason() == EndReason::peer_failed);
  // The FAIL comes within a round trip or two on loopback, not after an idle timeout.
  CHECK(f.loop->update_now() - began < Duration::seconds(3));
  CHECK(f.run_until([&] { return f.server->connection_count() == 0; }, Duration::seconds(5)));
  CHECK(f.server->endpoint().events().get(ServerEvent::connection_failed) == 1);
}

TEST_CASE("server: draining refuses newcomers and reports when the last connection is done") {
  Fixture f;
  f.start({"cat"});
  auto c = f.client("abc", false);
  CHECK(f.run_until([&] { return c->download == "abc"; }));
  bool drained = false;
  f.server->set_drained_handler([&] { drained = true; });
  f.server->begin_drain();
  CHECK_FALSE(drained);
  auto late = f.client("late");
  CHECK(f.run_until([&] { return f.server->endpoint().events().get(ServerEvent::refused_draining) >= 1; }));
  c->close_after_upload = true;
  c->service(f.loop->update_now());
  CHECK(f.run_until([&] { return drained; }));
  CHECK(c->engine->phase() == ClientEngine::Phase::done);
  CHECK(late->download.empty());
}

TEST_CASE("server: many clients at once, each served by its own program") {
  Fixture f;
  const size_t n = 40;
  f.start({"cat"}, /*max_connections=*/n);
  std::vector<std::unique_ptr<TestClient>> clients;
  std::vector<std::string> sent;
  for (size_t i = 0; i < n; ++i) {
    sent.push_back(random_text(f.rng, 1000 + 997 * i));
    clients.push_back(f.client(sent.back()));
  }
  CHECK(f.run_until([&] {
    for (auto& c : clients) {
      if (!c->engine->finished()) return false;
    }
    return f.server->connection_count() == 0;
  }, Duration::seconds(60)));
  for (size_t i = 0; i < n; ++i) {
    CHECK(clients[i]->engine->phase() == ClientEngine::Phase::done);
    CHECK(clients[i]->download == sent[i]);
  }
  CHECK(f.server->endpoint().events().get(ServerEvent::connection_accepted) == n);
  CHECK(f.server->endpoint().drops().get(DropReason::table_full) == 0);
}
