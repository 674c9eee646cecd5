// Shared fixtures for the crypto tests: deterministic keys, a counting nonce source and
// a helper that runs a client/server handshake up to a point.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "core/rng.h"
#include "crypto/client.h"
#include "crypto/init.h"
#include "crypto/keys.h"
#include "crypto/server.h"
#include "crypto/server_name.h"

namespace curvecp::test {

// A scratch directory under /tmp, removed with its contents at the end of the test.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/curvecp-crypto-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    const std::string cmd = "rm -rf '" + path + "'";
    if (std::system(cmd.c_str()) != 0) MESSAGE("could not remove " << path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// 16-byte nonces 0, 1, 2, ... as little-endian counters: unique, deterministic.
class CountingNonceSource final : public NonceSource {
 public:
  Result<Nonce16> next_nonce16() override {
    if (fail_) return make_error("nonce-generation disaster");
    Nonce16 n{};
    store_le64(n.data(), next_++);
    return n;
  }
  void set_failing(bool f) { fail_ = f; }

 private:
  uint64_t next_ = 0;
  bool fail_ = false;
};

inline Extension extension_of(uint8_t fill) {
  Extension e;
  e.fill(fill);
  return e;
}

inline ServerName name_of(std::string_view name) {
  auto r = encode_server_name(name);
  REQUIRE(r.ok());
  return *r;
}

// A server and a client wired together in memory, all randomness from one seed.
struct Pair {
  explicit Pair(uint64_t seed = 1, std::string_view server_name = "this.machine.name",
                std::string_view client_name = "this.machine.name")
      : rng(seed), server_keys(KeyPair::generate(rng)), client_keys(KeyPair::generate(rng)) {
    REQUIRE(crypto_initialize());
    server.emplace(SecretKey::from_bytes(Bytes(server_keys.sk.data(), 32)), name_of(server_name), extension_of(0x53),
                   nonces, rng, Timestamp{0});
    ClientConfig config;
    config.server_long_term = server_keys.pk;
    config.server_name = name_of(client_name);
    config.server_extension = extension_of(0x53);
    config.client_extension = extension_of(0x43);
    config.client_long_term_pk = client_keys.pk;
    config.client_long_term_sk = SecretKey::from_bytes(Bytes(client_keys.sk.data(), 32));
    config.vouch_nonce.fill(0x56);
    client.emplace(std::move(config), rng, Timestamp{0});
  }

  // Hello from the client, parsed by the server.
  std::vector<uint8_t> hello(Timestamp now = Timestamp{0}) {
    std::vector<uint8_t> out(kMaxPacketBytes);
    size_t n = client->poll_hello(now, out);
    REQUIRE(n == kHelloBytes);
    out.resize(n);
    return out;
  }

  std::vector<uint8_t> cookie_for(const std::vector<uint8_t>& hello_packet) {
    auto parsed = parse_client_packet(hello_packet, server->extension());
    REQUIRE(std::holds_alternative<ClientPacketView>(parsed));
    std::vector<uint8_t> out(kMaxPacketBytes);
    auto r = server->answer_hello(std::get<ClientPacketView>(parsed), out);
    REQUIRE(std::holds_alternative<size_t>(r));
    out.resize(std::get<size_t>(r));
    return out;
  }

  // Runs Hello -> Cookie and returns the first Initiate carrying `message`.
  std::vector<uint8_t> initiate(const std::vector<uint8_t>& message) {
    auto cookie = cookie_for(hello());
    auto cookie_drop = client->handle_cookie(cookie);
    INFO("cookie drop: " << std::string(cookie_drop ? drop_reason_name(*cookie_drop) : "none"));
    REQUIRE_FALSE(cookie_drop.has_value());
    return seal(message);
  }

  std::vector<uint8_t> seal(const std::vector<uint8_t>& message) {
    std::vector<uint8_t> out(kMaxPacketBytes);
    size_t n = client->seal(message, out);
    REQUIRE(n > 0);
    out.resize(n);
    return out;
  }

  SeededRng rng;
  CountingNonceSource nonces;
  KeyPair server_keys;
  KeyPair client_keys;
  std::optional<ServerCrypto> server;
  std::optional<ClientHandshake> client;
};

inline std::vector<uint8_t> message_of(size_t bytes, uint8_t fill) { return std::vector<uint8_t>(bytes, fill); }

inline ClientPacketView must_parse_client(const std::vector<uint8_t>& packet, const Extension& ext) {
  auto parsed = parse_client_packet(packet, ext);
  REQUIRE(std::holds_alternative<ClientPacketView>(parsed));
  return std::get<ClientPacketView>(parsed);
}

}  // namespace curvecp::test
