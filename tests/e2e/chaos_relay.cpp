// A UDP relay for the hostile-network end-to-end test, loopback only. It forwards between
// one client (which talks to 127.0.0.1:LISTEN_PORT) and a server at 127.0.0.1:SERVER_PORT,
// records the real packets it forwards, and for every forwarded packet throws, with the
// given probability each, extra datagrams at the receiver of that packet:
//   random     random bytes of random length (0..1500), sometimes with a CurveCP magic
//   truncated  a real packet cut short
//   flipped    a real packet with one bit flipped (box authentication must fail)
//   replayed   an earlier real packet of the same direction sent again (nonce checks)
// Toward the server the extras leave from the relay's own server-facing socket, so they
// come from the very address the server knows as the client's: the hard case.
// A second socket also sends random datagrams to the server from a foreign port.
//
// usage: chaos_relay LISTEN_PORT SERVER_PORT PROBABILITY SEED
// Runs until SIGTERM/SIGINT, then prints the counts of everything injected on stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int udp_socket_on(uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  return fd;
}

struct Counts {
  uint64_t forwarded = 0, random = 0, truncated = 0, flipped = 0, replayed = 0, foreign = 0;
};

class Relay {
 public:
  Relay(double p, uint64_t seed) : p_(p), rng_(seed) {}

  // Called for each real packet about to be forwarded on `out` to `to`; `history` holds
  // earlier real packets of the same direction.
  void inject(int out, const sockaddr_in& to, const std::vector<uint8_t>& packet,
              std::vector<std::vector<uint8_t>>& history, Counts& c) {
    auto send = [&](const uint8_t* d, size_t n) {
      sendto(out, d, n, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    };
    if (chance()) {
      std::vector<uint8_t> junk(rng_() % 1501);
      for (auto& b : junk) b = static_cast<uint8_t>(rng_());
      // Half of them look like CurveCP packets of a plausible length, to get past the
      // cheapest checks and exercise the deeper ones.
      if (junk.size() >= 8 && (rng_() & 1)) {
        std::memcpy(junk.data(), packet.data(), std::min<size_t>(8, packet.size()));
        junk.resize(std::min<size_t>(1184, (junk.size() / 16) * 16));
      }
      send(junk.data(), junk.size());
      ++c.random;
    }
    if (chance() && packet.size() > 1) {
      send(packet.data(), rng_() % packet.size());
      ++c.truncated;
    }
    if (chance() && !packet.empty()) {
      std::vector<uint8_t> copy = packet;
      const size_t bit = rng_() % (copy.size() * 8);
      copy[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      send(copy.data(), copy.size());
      ++c.flipped;
    }
    if (chance() && !history.empty()) {
      const auto& old = history[rng_() % history.size()];
      send(old.data(), old.size());
      ++c.replayed;
    }
    // Keep a bounded sample of real packets to replay later (the Hello and Initiate too).
    if (history.size() < 4096) {
      history.push_back(packet);
    } else {
      history[rng_() % history.size()] = packet;
    }
  }

  bool chance() { return std::uniform_real_distribution<double>(0, 1)(rng_) < p_; }
  std::mt19937_64& rng() { return rng_; }

 private:
  double p_;
  std::mt19937_64 rng_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: chaos_relay LISTEN_PORT|0 SERVER_PORT PROBABILITY SEED\n");
    return 100;
  }
  const uint16_t listen_port = static_cast<uint16_t>(std::atoi(argv[1]));
  const uint16_t server_port = static_cast<uint16_t>(std::atoi(argv[2]));
  const double p = std::atof(argv[3]);
  Relay relay(p, std::strtoull(argv[4], nullptr, 10));

  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  int client_side = udp_socket_on(listen_port);
  int server_side = udp_socket_on(0);
  int foreign = udp_socket_on(0);
  if (client_side < 0 || server_side < 0 || foreign < 0) {
    std::perror("chaos_relay: socket");
    return 111;
  }
  // LISTEN_PORT 0 binds any free port; the line below tells the test which one, so no
  // port is ever picked "free" and bound later by another process.
  sockaddr_in bound{};
  socklen_t bound_len = sizeof bound;
  if (getsockname(client_side, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    std::perror("chaos_relay: getsockname");
    return 111;
  }
  std::printf("chaos_relay: listening on 127.0.0.1:%u\n", static_cast<unsigned>(ntohs(bound.sin_port)));
  std::fflush(stdout);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(server_port);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in client{};
  bool have_client = false;

  Counts to_server, to_client;
  std::vector<std::vector<uint8_t>> c2s_history, s2c_history;
  std::vector<uint8_t> buf(65536);
  pollfd fds[2] = {{client_side, POLLIN, 0}, {server_side, POLLIN, 0}};
  while (!g_stop) {
    int r = poll(fds, 2, 200);
    if (r < 0) continue;  // EINTR at SIGTERM
    if (fds[0].revents & POLLIN) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(client_side, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n >= 0) {
        client = from;
        have_client = true;
        std::vector<uint8_t> packet(buf.begin(), buf.begin() + n);
        sendto(server_side, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&server), sizeof server);
        ++to_server.forwarded;
        relay.inject(server_side, server, packet, c2s_history, to_server);
        if (relay.chance()) {
          std::vector<uint8_t> junk(relay.rng()() % 1185);
          for (auto& b : junk) b = static_cast<uint8_t>(relay.rng()());
          sendto(foreign, junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&server), sizeof server);
          ++to_server.foreign;
        }
      }
    }
    if (fds[1].revents & POLLIN) {
      ssize_t n = recv(server_side, buf.data(), buf.size(), 0);
      if (n >= 0 && have_client) {
        std::vector<uint8_t> packet(buf.begin(), buf.begin() + n);
        sendto(client_side, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&client), sizeof client);
        ++to_client.forwarded;
        relay.inject(client_side, client, packet, s2c_history, to_client);
      }
    }
  }
  auto print = [](const char* dir, const Counts& c) {
    std::printf("%s forwarded %llu random %llu truncated %llu flipped %llu replayed %llu foreign %llu\n", dir,
                static_cast<unsigned long long>(c.forwarded), static_cast<unsigned long long>(c.random),
                static_cast<unsigned long long>(c.truncated), static_cast<unsigned long long>(c.flipped),
                static_cast<unsigned long long>(c.replayed), static_cast<unsigned long long>(c.foreign));
  };
  print("to-server", to_server);
  print("to-client", to_client);
  std::fflush(stdout);
  return 0;
}
