// Handshake flood generator for tests/bench/flood.sh (a benchmark tool, loopback only).
// Prepares POOL Hellos with distinct short-term keys, then for SECONDS sends them round
// and round to the server as fast as the socket takes them; every Cookie that comes back
// is answered with one Initiate that names the wrong server (the server computes the
// session key and opens the box before it can tell), and that Initiate is replayed once
// more (the replay memory makes the second one cheap). Every Hello costs the server two
// scalar multiplications. Prints what it sent and received.
//
// usage: flood_client IP PORT SERVER_KEY_HEX SERVER_EXT_HEX SECONDS [POOL]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "crypto/client.h"
#include "crypto/init.h"
#include "crypto/server_name.h"

using namespace curvecp;

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: flood_client IP PORT SERVER_KEY_HEX SERVER_EXT_HEX SECONDS [POOL]\n");
    return 100;
  }
  PublicKey server_key;
  Extension server_ext;
  if (!crypto_initialize() || !parse_public_key(argv[3], server_key) || !parse_extension(argv[4], server_ext)) {
    std::fprintf(stderr, "flood_client: bad server key or extension\n");
    return 100;
  }
  const double seconds = std::atof(argv[5]);
  const size_t pool = argc > 6 ? std::strtoul(argv[6], nullptr, 10) : 2000;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) return 100;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    std::perror("flood_client: socket");
    return 111;
  }

  SeededRng rng(static_cast<uint64_t>(::getpid()));
  std::vector<ClientHandshake> clients;
  std::vector<std::vector<uint8_t>> hellos;
  clients.reserve(pool);
  std::vector<uint8_t> buf(2048);
  for (size_t i = 0; i < pool; ++i) {
    ClientConfig c;
    c.server_long_term = server_key;
    c.server_extension = server_ext;
    c.server_name = *encode_server_name("not.the.server.name");
    KeyPair lt = KeyPair::generate(rng);
    c.client_long_term_pk = lt.pk;
    c.client_long_term_sk = std::move(lt.sk);
    clients.emplace_back(std::move(c), rng, Timestamp{0});
    const size_t n = clients.back().poll_hello(Timestamp{0}, buf);
    hellos.emplace_back(buf.begin(), buf.begin() + static_cast<long>(n));
  }

  uint64_t hellos_sent = 0, cookies = 0, initiates_sent = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  size_t next = 0, cursor = 0;
  std::vector<uint8_t> message(192, 0);
  while (std::chrono::steady_clock::now() < end) {
    for (int burst = 0; burst < 64; ++burst) {
      if (::send(fd, hellos[next].data(), hellos[next].size(), 0) < 0) break;
      ++hellos_sent;
      next = (next + 1) % hellos.size();
    }
    // Cookies come back roughly in the order of the Hellos: the client a Cookie is for is
    // looked for near the one after the last match (each client takes one Cookie).
    ssize_t r;
    while ((r = ::recv(fd, buf.data(), buf.size(), 0)) > 0) {
      if (r != static_cast<ssize_t>(kCookieBytes)) continue;
      ++cookies;
      for (size_t k = 0; k < 128; ++k) {
        const size_t i = (cursor + k) % clients.size();
        ClientHandshake& c = clients[i];
        if (c.state() != ClientHandshake::State::sending_hellos) continue;
        if (c.handle_cookie(Bytes(buf.data(), static_cast<size_t>(r)))) continue;
        cursor = i + 1;
        std::vector<uint8_t> initiate(2048);
        const size_t n = c.seal(message, initiate);
        for (int k = 0; k < 2 && n > 0; ++k) {
          if (::send(fd, initiate.data(), n, 0) >= 0) ++initiates_sent;
        }
        break;
      }
    }
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 1);
  }
  std::printf("flood: hellos_sent=%llu cookies=%llu initiates_sent=%llu\n",
              static_cast<unsigned long long>(hellos_sent), static_cast<unsigned long long>(cookies),
              static_cast<unsigned long long>(initiates_sent));
  ::close(fd);
  return 0;
}
