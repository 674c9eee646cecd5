// Plain-TCP baseline for the throughput benchmark (tests/bench/throughput.sh), loopback only.
//   throughput_tcp sink PORT        accept one connection on 127.0.0.1:PORT, discard until EOF
//   throughput_tcp send PORT FILE   connect to 127.0.0.1:PORT, send FILE, close
// Both copy through a 256 KiB user-space buffer, like the other systems' endpoints do.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int fail(const char* what) {
  std::fprintf(stderr, "throughput_tcp: %s: %s\n", what, std::strerror(errno));
  return 111;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char> buf(256 * 1024);
  if (argc == 3 && std::strcmp(argv[1], "sink") == 0) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(std::atoi(argv[2]));
    if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0) return fail("listen");
    int c = accept(l, nullptr, nullptr);
    if (c < 0) return fail("accept");
    unsigned long long total = 0;
    for (;;) {
      ssize_t n = read(c, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("read");
      if (n == 0) break;
      total += static_cast<unsigned long long>(n);
    }
    std::printf("%llu\n", total);
    return 0;
  }
  if (argc == 4 && std::strcmp(argv[1], "send") == 0) {
    int f = open(argv[3], O_RDONLY);
    if (f < 0) return fail("open");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(std::atoi(argv[2]));
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return fail("connect");
    for (;;) {
      ssize_t n = read(f, buf.data(), buf.size());
      if (n < 0) return fail("read");
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(s, buf.data() + off, static_cast<size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return fail("write");
        off += w;
      }
    }
    shutdown(s, SHUT_WR);
    while (read(s, buf.data(), buf.size()) > 0) {
    }
    close(s);
    return 0;
  }
  std::fprintf(stderr, "usage: throughput_tcp sink PORT | send PORT FILE\n");
  return 100;
}
