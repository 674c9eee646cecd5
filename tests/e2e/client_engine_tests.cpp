// ClientEngine (client/client_engine.h) against the real server-side pieces (ServerCrypto,
// ServerSession, a server Stream) in memory, on a virtual clock: the whole client life
// cycle without sockets, in milliseconds of real time.
#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client_engine.h"
#include "crypto/init.h"
#include "crypto/server.h"
#include "scheduler/stream.h"

namespace curvecp {
namespace {

class CountingNonces final : public NonceSource {
 public:
  Result<Nonce16> next_nonce16() override {
    Nonce16 n{};
    store_le64(n.data(), ++counter_);
    return n;
  }

 private:
  uint64_t counter_ = 0;
};

const Address kServer = *Address::parse("127.0.0.1", 4000);

// One client engine and one in-memory server connection, joined by a lossless "wire".
struct World {
  SeededRng rng{42};
  CountingNonces nonces;
  Timestamp now{1'000'000'000};
  KeyPair server_keys = KeyPair::generate(rng);
  ServerName name{};
  Extension ext{};
  std::unique_ptr<ServerCrypto> server;
  std::optional<ServerSession> session;
  std::unique_ptr<Stream> server_stream;
  std::unique_ptr<ClientEngine> client;
  bool server_silent = false;  // drop everything the server would send
  uint64_t cookies_sent = 0;

  explicit World(Duration idle_timeout = Duration::seconds(60)) {
    REQUIRE(crypto_initialize());
    name[0] = 4;
    std::memcpy(&name[1], "test", 4);
    PublicKey server_pk = server_keys.pk;
    server = std::make_unique<ServerCrypto>(std::move(server_keys.sk), name, ext, nonces, rng, now);
    ClientEngineConfig config;
    config.server = kServer;
    config.crypto.server_long_term = server_pk;
    config.crypto.server_name = name;
    KeyPair client_keys = KeyPair::generate(rng);
    config.crypto.client_long_term_pk = client_keys.pk;
    config.crypto.client_long_term_sk = std::move(client_keys.sk);
    config.idle_timeout = idle_timeout;
    auto engine = ClientEngine::create(std::move(config), rng, now);
    REQUIRE(engine.ok());
    client = std::move(*engine);
    StreamConfig sc;
    sc.role = StreamRole::server;
    auto stream = Stream::create(sc, rng, now);
    REQUIRE(stream.ok());
    server_stream = std::move(*stream);
  }

  // Delivers one client datagram to the server side.
  void to_server(Bytes datagram) {
    auto parsed = parse_client_packet(datagram, ext);
    REQUIRE(std::holds_alternative<ClientPacketView>(parsed));
    const ClientPacketView& view = std::get<ClientPacketView>(parsed);
    std::array<uint8_t, 2048> out{};
    if (view.type == ClientPacketType::hello) {
      auto r = server->answer_hello(view, out);
      REQUIRE(std::holds_alternative<size_t>(r));
      ++cookies_sent;
      if (!server_silent) client->handle_datagram(now, kServer, Bytes(out.data(), std::get<size_t>(r)));
      return;
    }
    std::array<uint8_t, 1088> message{};
    size_t m = 0;
    if (!session) {
      auto r = server->accept_initiate(view, message);
      REQUIRE(std::holds_alternative<AcceptedInitiate>(r));
      m = std::get<AcceptedInitiate>(r).message_bytes;
      session.emplace(std::move(std::get<AcceptedInitiate>(r).session));
    } else {
      auto r = session->open(view, message);
      REQUIRE(std::holds_alternative<size_t>(r));
      m = std::get<size_t>(r);
    }
    server_stream->on_message(now, Bytes(message.data(), m));
  }

  // Moves every datagram due now in both directions until the wire is quiet.
  void exchange() {
    for (int round = 0; round < 100000; ++round) {
      bool moved = false;
      std::array<uint8_t, 1184> packet{};
      while (size_t n = client->poll_transmit(now, packet)) {
        to_server(Bytes(packet.data(), n));
        moved = true;
      }
      std::array<uint8_t, 1088> message{};
      while (session) {
        size_t m = server_stream->poll_transmit(now, message, 1088);
        if (m == 0) break;
        std::array<uint8_t, 1184> out{};
        size_t n = session->seal(Bytes(message.data(), m), out);
        REQUIRE(n > 0);
        if (!server_silent) client->handle_datagram(now, kServer, Bytes(out.data(), n));
        moved = true;
      }
      if (!moved) return;
    }
    FAIL("wire never went quiet");
  }

  // Advances the virtual clock to the next deadline of either side (if there is one).
  void advance() {
    Timestamp t = client->next_timeout();
    if (session) t = earliest(t, server_stream->next_timeout());
    if (t == Timestamp::never()) return;
    if (t > now) now = t;
    client->on_timer(now);
  }
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed + (i >> 9));
  return v;
}

TEST_CASE("client engine: handshake, data both ways, clean close") {
  World w;
  const auto up = pattern(300000, 1);
  const auto down = pattern(200000, 7);
  size_t up_written = 0, down_written = 0;
  std::vector<uint8_t> got_up, got_down;
  std::array<uint8_t, 65536> buf{};
  for (int step = 0; step < 200000 && !w.client->finished(); ++step) {
    Stream& cs = w.client->stream();
    up_written += cs.write(Bytes(up.data() + up_written, up.size() - up_written));
    if (up_written == up.size() && cs.send_space() > 0) cs.close_write();
    if (w.session) {
      down_written += w.server_stream->write(Bytes(down.data() + down_written, down.size() - down_written));
      if (down_written == down.size()) w.server_stream->close_write();
      while (size_t n = w.server_stream->read(buf)) got_up.insert(got_up.end(), buf.begin(), buf.begin() + n);
    }
    while (size_t n = cs.read(buf)) got_down.insert(got_down.end(), buf.begin(), buf.begin() + n);
    w.exchange();
    if (w.client->stream().done()) w.client->on_timer(w.now);
    if (!w.client->finished()) w.advance();
  }
  CHECK(w.client->phase() == ClientEngine::Phase::done);
  CHECK(w.client->failure().empty());
  // A done engine still sends what is due: the (possibly delayed) acknowledgement of the
  // server's EOF, without which the server's direction never finishes.
  for (int i = 0; i < 10 && !w.server_stream->done(); ++i) {
    w.exchange();
    w.advance();
  }
  CHECK(w.server_stream->done());
  CHECK(w.cookies_sent == 1);
  CHECK(got_up == up);
  CHECK(got_down == down);
  CHECK_FALSE(w.client->stream().read_failed());
  CHECK(w.client->drops().total() == 0);
}

TEST_CASE("client engine: the first message follows the Cookie at once, as an Initiate") {
  World w;
  std::array<uint8_t, 1184> packet{};
  size_t n = w.client->poll_transmit(w.now, packet);
  REQUIRE(n == kHelloBytes);
  w.to_server(Bytes(packet.data(), n));  // answers with a Cookie
  CHECK(w.client->has_cookie());
  // Nothing written by the application: an empty ping still goes out immediately.
  n = w.client->poll_transmit(w.now, packet);
  REQUIRE(n >= kInitiateHeaderBytes + 48);
  CHECK(std::memcmp(packet.data(), "QvnQ5XlI", 8) == 0);
  w.to_server(Bytes(packet.data(), n));
  CHECK(w.session.has_value());
}

TEST_CASE("client engine: datagrams from another address are dropped and counted") {
  World w;
  std::array<uint8_t, 1184> packet{};
  size_t n = w.client->poll_transmit(w.now, packet);
  auto parsed = parse_client_packet(Bytes(packet.data(), n), w.ext);
  std::array<uint8_t, 256> cookie{};
  auto r = w.server->answer_hello(std::get<ClientPacketView>(parsed), cookie);
  const size_t cookie_bytes = std::get<size_t>(r);
  w.client->handle_datagram(w.now, *Address::parse("127.0.0.2", 4000), Bytes(cookie.data(), cookie_bytes));
  w.client->handle_datagram(w.now, *Address::parse("127.0.0.1", 4001), Bytes(cookie.data(), cookie_bytes));
  CHECK(w.client->drops().get(DropReason::wrong_source) == 2);
  CHECK_FALSE(w.client->has_cookie());
  w.client->handle_datagram(w.now, kServer, Bytes(cookie.data(), cookie_bytes));
  CHECK(w.client->has_cookie());
}

TEST_CASE("client engine: eight Hellos, then 'no response from server'") {
  World w;
  w.server_silent = true;
  const Timestamp start = w.now;
  int hellos = 0;
  while (!w.client->finished()) {
    std::array<uint8_t, 1184> packet{};
    while (size_t n = w.client->poll_transmit(w.now, packet)) {
      CHECK(n == kHelloBytes);
      ++hellos;
    }
    if (w.client->finished()) break;
    REQUIRE(w.client->next_timeout() != Timestamp::never());
    w.now = w.client->next_timeout();
  }
  CHECK(hellos == 8);
  CHECK(w.client->phase() == ClientEngine::Phase::failed);
  CHECK(w.client->failure().find("no response from server") != std::string::npos);
  // CURVECP.md 4.4: waits of 1, 1.5, ... 17.09 s, each scaled by [1, 2): 49.3 to 98.5 s.
  const double total_s = (w.now - start).seconds_f();
  CHECK(total_s >= 49.2);
  CHECK(total_s <= 98.6);
}

TEST_CASE("client engine: a server that falls silent with data outstanding ends in an idle timeout") {
  World w(Duration::seconds(20));
  const auto up = pattern(100000, 3);
  size_t written = 0;
  // Establish and move some data.
  for (int step = 0; step < 1000 && written < up.size() / 2; ++step) {
    written += w.client->stream().write(Bytes(up.data() + written, up.size() / 2 - written));
    w.exchange();
    w.advance();
  }
  REQUIRE(w.client->phase() == ClientEngine::Phase::connected);
  w.server_silent = true;
  const Timestamp silent_since = w.now;
  written += w.client->stream().write(Bytes(up.data() + written, up.size() - written));
  for (int step = 0; step < 100000 && !w.client->finished(); ++step) {
    w.exchange();
    w.advance();
  }
  CHECK(w.client->phase() == ClientEngine::Phase::failed);
  CHECK(w.client->failure().find("timed out") != std::string::npos);
  const double waited_s = (w.now - silent_since).seconds_f();
  CHECK(waited_s >= 19.9);
  CHECK(waited_s <= 25.0);
}

TEST_CASE("client engine: an idle connection with everything acknowledged does not time out") {
  World w(Duration::seconds(5));
  for (int step = 0; step < 100 && !w.session; ++step) {
    w.exchange();
    w.advance();
  }
  REQUIRE(w.session.has_value());
  w.exchange();
  // Ten idle timeouts of silence with nothing outstanding.
  w.server_silent = true;
  const Timestamp until = w.now + Duration::seconds(50);
  while (w.now < until && !w.client->finished()) {
    w.exchange();
    Timestamp t = w.client->next_timeout();
    w.now = t == Timestamp::never() || t > until ? until : std::max(t, w.now + Duration::milliseconds(1));
    w.client->on_timer(w.now);
  }
  CHECK(w.client->phase() == ClientEngine::Phase::connected);
}

}  // namespace
}  // namespace curvecp
