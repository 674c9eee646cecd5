#include "daemon/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "daemon/control_server.h"
#include "daemon/unique_fd.h"

namespace curvecp {

namespace {

Error at(const std::string& path, const std::string& what) { return make_error("control socket " + path + ": " + what); }

// Connects to `path`; a missing file or a refused connection means no daemon there.
Result<UniqueFd> connect_to(const std::string& path, Duration timeout) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) return at(path, "path too long for a unix socket");
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return at(path, errno_text("socket", errno));
  // A unix connect waits while the listener's backlog is full; this bounds that wait.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.ns / 1000000000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.ns % 1000000000) / 1000);
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) return at(path, "no daemon is listening there");
    if (err == EAGAIN || err == EINPROGRESS) return at(path, "the daemon did not accept the connection in time");
    return at(path, errno_text("connect", err));
  }
  return fd;
}

// Waits for `events` on `fd` until `deadline` (CLOCK_MONOTONIC ms); false on timeout.
bool wait_for(int fd, short events, int64_t deadline_ms) {
  for (;;) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const int64_t now_ms = static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
    if (now_ms >= deadline_ms) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(deadline_ms - now_ms));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let the read or write report it
  }
}

}  // namespace

Result<std::string> control_request(const std::string& path, const std::string& request, Duration timeout) {
  auto fd = connect_to(path, timeout);
  if (!fd) return fd.error();
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const int64_t deadline_ms = static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000 + timeout.ns / 1000000;
  const int s = fd->get();
  size_t sent = 0;
  while (sent < request.size()) {
    if (!wait_for(s, POLLOUT, deadline_ms)) return at(path, "the daemon did not take the request in time");
    const ssize_t n = send(s, request.data() + sent, request.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return at(path, errno_text("send", errno));
    sent += static_cast<size_t>(n);
  }
  std::string reply;
  size_t searched = 0;  // bytes of `reply` known to hold no newline
  char buf[65536];
  for (;;) {
    const size_t newline = reply.find('\n', searched);
    if (newline != std::string::npos) return reply.substr(0, newline);
    searched = reply.size();
    if (reply.size() > kMaxControlReplyBytes) return at(path, "reply too long");
    if (!wait_for(s, POLLIN, deadline_ms)) return at(path, "no reply in time");
    const ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return at(path, errno_text("recv", errno));
    if (n == 0) return at(path, "the daemon closed the connection without a reply");
    reply.append(buf, static_cast<size_t>(n));
  }
}

Result<std::string> control_path_from_environment() {
  const char* env = std::getenv(kControlPathEnv);
  if (env != nullptr && env[0] != '\0') return std::string(env);
  std::string path = default_serve_control_path();
  if (path.empty()) {
    return make_error("no control socket: give --control PATH (there is no default without root or XDG_RUNTIME_DIR)");
  }
  return path;
}

}  // namespace curvecp
