// libFuzzer target for every parser and opener of the packet layer (CURVECP.md 2.8, 2.9,
// 3.4-3.8, 4.7) and the server-name encoder. One fixed, deterministic world is set up once:
// a server, a client that has a cookie, and an established session both ways, so that
// inputs reach each entry point in every state. Build with -DCURVECP_FUZZ=ON and clang.
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "core/rng.h"
#include "crypto/client.h"
#include "crypto/init.h"
#include "crypto/server.h"
#include "crypto/server_name.h"
#include "tests/crypto/fuzz_heap_secrets.h"
#include "tests/crypto/fuzz_key_cache.h"

namespace curvecp {
namespace {

class CountingNonces final : public NonceSource {
 public:
  Result<Nonce16> next_nonce16() override {
    Nonce16 n{};
    store_le64(n.data(), next_++);
    return n;
  }

 private:
  uint64_t next_ = 0;
};

struct World {
  SeededRng rng{42};
  CountingNonces nonces;
  Extension server_ext{};
  Extension client_ext{};
  KeyPair server_keys = KeyPair::generate(rng);
  std::optional<ServerCrypto> server;
  std::optional<ClientHandshake> waiting_client;      // has sent a Hello
  std::optional<ClientHandshake> established_client;  // has a session
  std::optional<ServerSession> session;

  ClientConfig config() {
    ClientConfig c;
    c.server_long_term = server_keys.pk;
    c.server_name = *encode_server_name("fuzz.example");
    c.server_extension = server_ext;
    c.client_extension = client_ext;
    KeyPair lt = KeyPair::generate(rng);
    c.client_long_term_pk = lt.pk;
    c.client_long_term_sk = std::move(lt.sk);
    return c;
  }

  World() {
    if (!crypto_initialize()) __builtin_trap();
    server_ext.fill(1);
    client_ext.fill(2);
    server.emplace(SecretKey::from_bytes(Bytes(server_keys.sk.data(), 32)), *encode_server_name("fuzz.example"),
                   server_ext, nonces, rng, Timestamp{0});
    std::vector<uint8_t> buf(kMaxPacketBytes), out(kMaxMessageBytes);
    waiting_client.emplace(config(), rng, Timestamp{0});
    if (waiting_client->poll_hello(Timestamp{0}, buf) != kHelloBytes) __builtin_trap();

    established_client.emplace(config(), rng, Timestamp{0});
    size_t n = established_client->poll_hello(Timestamp{0}, buf);
    auto hello = std::get<ClientPacketView>(parse_client_packet(Bytes(buf.data(), n), server_ext));
    std::vector<uint8_t> cookie(kCookieBytes);
    if (!std::holds_alternative<size_t>(server->answer_hello(hello, cookie))) __builtin_trap();
    if (established_client->handle_cookie(cookie)) __builtin_trap();
    std::vector<uint8_t> msg(16, 0);
    n = established_client->seal(msg, buf);
    auto init = std::get<ClientPacketView>(parse_client_packet(Bytes(buf.data(), n), server_ext));
    auto accepted = server->accept_initiate(init, out);
    if (!std::holds_alternative<AcceptedInitiate>(accepted)) __builtin_trap();
    session.emplace(std::move(std::get<AcceptedInitiate>(accepted).session));
  }

  // Valid packets of every type for this world, as seeds (mode byte 0 = no repairs).
  std::vector<std::vector<uint8_t>> seeds() {
    std::vector<std::vector<uint8_t>> out;
    auto add = [&](const std::vector<uint8_t>& buf, size_t n) {
      std::vector<uint8_t> seed{0};
      seed.insert(seed.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      out.push_back(std::move(seed));
    };
    std::vector<uint8_t> buf(kMaxPacketBytes), cookie(kCookieBytes), msg(192, 7), o(kMaxMessageBytes);
    ClientHandshake c(config(), rng, Timestamp{0});
    size_t n = c.poll_hello(Timestamp{0}, buf);
    add(buf, n);
    auto hello = std::get<ClientPacketView>(parse_client_packet(Bytes(buf.data(), n), server_ext));
    (void)server->answer_hello(hello, cookie);
    add(cookie, kCookieBytes);
    (void)c.handle_cookie(cookie);
    n = c.seal(msg, buf);
    add(buf, n);
    auto init = std::get<ClientPacketView>(parse_client_packet(Bytes(buf.data(), n), server_ext));
    auto accepted = server->accept_initiate(init, o);
    ServerSession s = std::move(std::get<AcceptedInitiate>(accepted).session);
    n = s.seal(msg, buf);
    add(buf, n);
    (void)c.open(Bytes(buf.data(), n), o);
    n = c.seal(msg, buf);
    add(buf, n);
    return out;
  }
};

World& world() {
  static World w;
  return w;
}

}  // namespace
}  // namespace curvecp

// With CURVECP_FUZZ_SEEDS=DIR in the environment, writes valid packets into DIR first, so
// that a run given DIR as its corpus starts from packets whose boxes open.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("CURVECP_FUZZ_SEEDS");
  if (dir == nullptr) return 0;
  ::mkdir(dir, 0755);
  int i = 0;
  for (const auto& seed : curvecp::world().seeds()) {
    const std::string path = std::string(dir) + "/seed-" + std::to_string(i++);
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(seed.data(), 1, seed.size(), f);
      std::fclose(f);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace curvecp;
  World& w = world();
  if (size == 0) return 0;
  // Byte 0 selects header repairs so that mutations get past the cheap checks (magic and
  // extensions) and reach the boxes: bit 0 makes bytes 0..24 a valid client->server header,
  // bit 1 a valid server->client header (bytes 0..40). The rest is the datagram.
  const uint8_t mode = data[0];
  std::vector<uint8_t> packet(data + 1, data + size);
  if ((mode & 1) && packet.size() >= 24) {
    std::memcpy(packet.data(), "QvnQ5Xl", 7);
    std::memcpy(packet.data() + 8, w.server_ext.data(), 16);
  } else if ((mode & 2) && packet.size() >= 40) {
    std::memcpy(packet.data(), "RL3aNMX", 7);
    std::memcpy(packet.data() + 8, w.client_ext.data(), 16);
    std::memcpy(packet.data() + 24, w.server_ext.data(), 16);
  }
  const Bytes input(packet);
  std::vector<uint8_t> out(kMaxPacketBytes);

  // Server side: header checks, then every entry point the type allows.
  auto parsed = parse_client_packet(input, w.server_ext);
  if (auto* view = std::get_if<ClientPacketView>(&parsed)) {
    switch (view->type) {
      case ClientPacketType::hello:
        (void)w.server->answer_hello(*view, out);
        break;
      case ClientPacketType::initiate:
        (void)w.server->accept_initiate(*view, out);
        (void)w.session->open(*view, out);
        break;
      case ClientPacketType::message:
        (void)w.session->open(*view, out);
        break;
    }
  }

  // Client side: header checks, a cookie to a waiting client (which stays waiting unless the
  // box opens, which a fuzzer cannot forge), a message to the established client.
  auto server_parsed = parse_server_packet(input, w.client_ext, w.server_ext);
  (void)server_parsed;
  if (w.waiting_client->state() == ClientHandshake::State::sending_hellos) (void)w.waiting_client->handle_cookie(input);
  (void)w.established_client->open(input, out);

  // The name encoder takes any text.
  auto name = encode_server_name(std::string_view(reinterpret_cast<const char*>(packet.data()), packet.size()));
  (void)name;
  return 0;
}
