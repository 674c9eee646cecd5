// Memory probe for docs/MEMORY.md: opens N connections to a server, each with exactly
// one Initiate whose message carries 16 bytes at stream offset 4 MiB - 16 (the top of
// the server's 4 MiB receive window), and nothing else: no acknowledgement, no further
// packet. That is the cheapest way for a client to make a server commit receive memory
// (issue 10: on main it committed the whole 4 MiB window per connection). With
// --offset 0 the 16 bytes go at the start instead (an ordinary, nearly idle connection).
//
// usage: curvecp_scale_probe --name NAME --server-key HEX [--ext HEX] [--connections N]
//                            [--offset BYTES] IP PORT
// Prints "probe: N initiates sent" and exits 0, or one line and 111 when a handshake
// gets no Cookie (after 4 Hellos, 1 s apart). Plain blocking sockets, one per connection,
// all kept open until the probe exits.
#include <CLI/CLI.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/address.h"
#include "crypto/client.h"
#include "crypto/init.h"
#include "crypto/server_name.h"
#include "crypto/sodium_rng.h"
#include "daemon/sockaddr.h"
#include "scheduler/message.h"

namespace {

using namespace curvecp;

Timestamp monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Timestamp{static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

// One handshake and one Initiate on socket fd (connected to the server). False if no
// Cookie came.
bool probe_one(int fd, ClientConfig config, uint64_t offset, Rng& rng) {
  ClientHandshake hs(std::move(config), rng, monotonic_now());
  uint8_t packet[kMaxPacketBytes];
  for (int attempt = 0; attempt < 4 && hs.state() == ClientHandshake::State::sending_hellos; ++attempt) {
    // Hellos on our own schedule (the handshake's own waits are seconds long).
    const size_t n = hs.poll_hello(monotonic_now() + Duration::seconds(3600 * (attempt + 1)),
                                  MutableBytes(packet, sizeof packet));
    if (n == 0 || ::send(fd, packet, n, 0) != static_cast<ssize_t>(n)) return false;
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 1000) == 1) {
      const ssize_t r = ::recv(fd, packet, sizeof packet, 0);
      if (r > 0 && !hs.handle_cookie(Bytes(packet, static_cast<size_t>(r)))) break;
    }
  }
  if (hs.state() != ClientHandshake::State::have_cookie) return false;
  uint8_t data[16] = {'f', 'a', 'r', ' ', 'p', 'r', 'o', 'b', 'e', ' ', 'b', 'y', 't', 'e', 's', '\n'};
  MessageFields fields;
  fields.id = 1;
  fields.offset = offset;
  uint8_t message[kMaxMessageBytes];
  const size_t size = encode_message(fields, Bytes(data, sizeof data), message_size_for_data(sizeof data),
                                     MutableBytes(message, sizeof message));
  const size_t n = hs.seal(Bytes(message, size), MutableBytes(packet, sizeof packet));
  return n != 0 && ::send(fd, packet, n, 0) == static_cast<ssize_t>(n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"curvecp memory probe: N connections, one far-ahead Initiate each"};
  std::string name, key_hex, ext_hex, ip, port_text;
  uint64_t connections = 1, offset = (4u << 20) - 16;
  app.add_option("--name", name)->required();
  app.add_option("--server-key", key_hex)->required();
  app.add_option("--ext", ext_hex);
  app.add_option("--connections", connections);
  app.add_option("--offset", offset);
  app.add_option("IP", ip)->required();
  app.add_option("PORT", port_text)->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 100;
  }
  ClientConfig base;
  auto port = parse_port(port_text);
  auto server = port ? Address::parse(ip, *port) : std::nullopt;
  auto sname = encode_server_name(name);
  if (!parse_public_key(key_hex, base.server_long_term) || !server || !sname ||
      (!ext_hex.empty() && !parse_extension(ext_hex, base.server_extension))) {
    std::fprintf(stderr, "probe: bad arguments\n");
    return 100;
  }
  if (!crypto_initialize()) return 111;
  SodiumRng rng;
  sockaddr_storage to{};
  const socklen_t to_len = to_sockaddr(*server, to);
  std::vector<int> sockets;
  for (uint64_t i = 0; i < connections; ++i) {
    const int fd = ::socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&to), to_len) != 0) {
      std::perror("probe: socket");
      return 111;
    }
    sockets.push_back(fd);
    ClientConfig config;
    config.server_long_term = base.server_long_term;
    config.server_extension = base.server_extension;
    config.server_name = *sname;
    KeyPair pair = KeyPair::generate(rng);
    config.client_long_term_pk = pair.pk;
    config.client_long_term_sk = std::move(pair.sk);
    rng.fill(config.vouch_nonce);
    if (!probe_one(fd, std::move(config), offset, rng)) {
      std::fprintf(stderr, "probe: connection %llu: no cookie from the server\n", static_cast<unsigned long long>(i));
      return 111;
    }
  }
  std::printf("probe: %llu initiates sent\n", static_cast<unsigned long long>(connections));
  for (int fd : sockets) ::close(fd);
  return 0;
}
