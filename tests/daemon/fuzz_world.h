// Shared world of the handshake-state-machine fuzz targets (fuzz_server_endpoint.cpp,
// fuzz_client_engine.cpp): fixed keys, and one real exchange between a ClientEngine and a
// ServerEndpoint recorded once at start-up (Hello, Cookie, Initiates, Messages both ways,
// data and EOFs). Endpoints made later with the same seeds have the same short-term keys
// and minute keys, so the recorded packets open in them: a fuzz input replays, mutates,
// reorders and duplicates them, mixes in raw bytes and moves the clock, on a fresh
// endpoint each time (deterministic).
//
// Input format (both targets): a sequence of operations, one opcode byte then its
// arguments; a missing argument ends the input.
//   0 i        deliver recorded packet i (mod count) as it was
//   1 i p x    deliver packet i with byte p (mod size) XOR x (x = 0 means 0x01)
//   2 i        deliver packet i from another address
//   3 t        advance the clock by t * 16 ms, then poll
//   4 n ...    deliver the next n * 8 input bytes as a raw datagram
//   5 n        the local application writes n * 64 bytes (and reads what is there)
//   6          the local application is done (or aborts, see each target)
//   7 i j      deliver packet i, then packet j, in one go (duplicates, reordering)
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "client/client_engine.h"
#include "core/rng.h"
#include "crypto/init.h"
#include "crypto/server_name.h"
#include "daemon/server_endpoint.h"
#include "tests/crypto/fuzz_heap_secrets.h"
#include "tests/crypto/fuzz_key_cache.h"

namespace curvecp::fuzz {

inline const Address kServerAddress = *Address::parse("10.1.1.1", 4000);
inline const Address kClientAddress = *Address::parse("10.2.2.2", 5000);
inline const Address kOtherAddress = *Address::parse("10.3.3.3", 6000);
inline constexpr uint64_t kServerSeed = 11;
inline constexpr uint64_t kClientSeed = 22;

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

// Reads operations out of a fuzz input.
class Ops {
 public:
  Ops(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool next(uint8_t& b) {
    if (p_ == end_) return false;
    b = *p_++;
    return true;
  }
  const uint8_t* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return nullptr;
    const uint8_t* at = p_;
    p_ += n;
    return at;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

struct World {
  std::array<uint8_t, 32> server_sk{};
  PublicKey server_pk;
  std::array<uint8_t, 32> client_sk{};
  PublicKey client_pk;
  Nonce16 vouch_nonce{};
  std::vector<std::vector<uint8_t>> to_server;  // recorded client -> server datagrams
  std::vector<std::vector<uint8_t>> to_client;  // recorded server -> client datagrams

  World() {
    if (!crypto_initialize()) __builtin_trap();
    SeededRng keys(1);
    KeyPair s = KeyPair::generate(keys);
    std::memcpy(server_sk.data(), s.sk.data(), 32);
    server_pk = s.pk;
    KeyPair c = KeyPair::generate(keys);
    std::memcpy(client_sk.data(), c.sk.data(), 32);
    client_pk = c.pk;
    vouch_nonce.fill(7);
    record();
  }

  std::unique_ptr<ServerEndpoint> make_server(Rng& rng, NonceSource& nonces) const {
    ServerEndpointConfig config;
    config.name = *encode_server_name("fuzz.example");
    config.max_connections = 4;
    auto e = ServerEndpoint::create(config, SecretKey::from_bytes(server_sk), nonces, rng, Timestamp{0});
    if (!e) __builtin_trap();
    return std::move(*e);
  }

  std::unique_ptr<ClientEngine> make_client(Rng& rng) const {
    ClientEngineConfig cc;
    cc.server = kServerAddress;
    cc.crypto.server_long_term = server_pk;
    cc.crypto.server_name = *encode_server_name("fuzz.example");
    cc.crypto.client_long_term_pk = client_pk;
    cc.crypto.client_long_term_sk = SecretKey::from_bytes(client_sk);
    cc.crypto.vouch_nonce = vouch_nonce;
    // Small buffers: a fresh engine per input must not cost megabytes of zeroed memory.
    cc.stream.send_buffer_bytes = 64 << 10;
    cc.stream.receive_buffer_bytes = 64 << 10;
    auto e = ClientEngine::create(std::move(cc), rng, Timestamp{0});
    if (!e) __builtin_trap();
    return std::move(*e);
  }

  // One upload and download of a few KiB with both EOFs, every datagram recorded.
  void record() {
    SeededRng server_rng(kServerSeed), client_rng(kClientSeed);
    CountingNonces nonces;
    auto server = make_server(server_rng, nonces);
    auto client = make_client(client_rng);
    std::vector<uint8_t> buf(2048), data(5000, 'u');
    client->stream().write(data);
    client->stream().close_write();
    bool server_wrote = false;
    Timestamp now{0};
    for (int step = 0; step < 20000 && !client->finished(); ++step) {
      while (size_t n = client->poll_transmit(now, buf)) {
        to_server.emplace_back(buf.begin(), buf.begin() + static_cast<long>(n));
        server->handle_datagram(now, kClientAddress, Bytes(buf.data(), n));
      }
      while (server->poll_event()) {
      }
      if (Connection* c = server->connection(0)) {
        std::array<uint8_t, 4096> scratch;
        while (c->stream().read(scratch) > 0) {
        }
        if (c->stream().read_finished() && !server_wrote) {
          std::vector<uint8_t> reply(3000, 'd');
          c->stream().write(reply);
          c->stream().close_write();
          c->set_application_done(now, false);
          server_wrote = true;
        }
        server->wake(0);
      }
      Address to;
      while (size_t n = server->poll_transmit(now, buf, to)) {
        to_client.emplace_back(buf.begin(), buf.begin() + static_cast<long>(n));
        client->handle_datagram(now, kServerAddress, Bytes(buf.data(), n));
      }
      while (server->poll_event()) {
      }
      std::array<uint8_t, 4096> scratch;
      while (client->stream().read(scratch) > 0) {
      }
      if (client->stream().read_finished()) client->connection().set_application_done(now, false);
      now = now + Duration::milliseconds(1);
    }
    if (to_server.empty() || to_client.empty()) __builtin_trap();
  }
};

inline const World& world() {
  static const World w;
  return w;
}

}  // namespace curvecp::fuzz
