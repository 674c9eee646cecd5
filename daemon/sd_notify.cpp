#include "daemon/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace curvecp {

Result<std::optional<SdNotifier>> SdNotifier::from_environment() {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr) return std::optional<SdNotifier>();
  std::string path = env;
  ::unsetenv("NOTIFY_SOCKET");
  sockaddr_un probe{};
  if (path.size() < 2 || (path[0] != '/' && path[0] != '@') || path.size() >= sizeof probe.sun_path) {
    return make_error("NOTIFY_SOCKET is not an absolute path or @abstract name: " + path);
  }
  if (path[0] == '@') path[0] = '\0';
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return make_error(std::string("notify socket: ") + std::strerror(errno));
  return std::optional<SdNotifier>(SdNotifier(std::move(fd), std::move(path)));
}

Status SdNotifier::send(std::string_view state) const {
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::memcpy(to.sun_path, path_.data(), path_.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  ssize_t n = 0;
  do {
    n = ::sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to), len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    // Built step by step: gcc 12 -O3 reports a false -Wrestrict on a chain of operator+.
    std::string what = "cannot notify ";
    if (path_[0] != '\0') {
      what += path_;
    } else {
      what += '@';
      what.append(path_, 1, std::string::npos);
    }
    what += ": ";
    what += std::strerror(errno);
    return make_error(what);
  }
  return {};
}

}  // namespace curvecp
