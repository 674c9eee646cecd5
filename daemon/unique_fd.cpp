#include "daemon/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace curvecp {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

bool set_nonblocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return wanted == flags || fcntl(fd, F_SETFL, wanted) == 0;
}

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

Result<Pipe> make_pipe(bool nonblocking_read, bool nonblocking_write) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return make_error(errno_text("pipe", errno));
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  if ((nonblocking_read && !set_nonblocking(p.read_end.get(), true)) ||
      (nonblocking_write && !set_nonblocking(p.write_end.get(), true))) {
    return make_error(errno_text("pipe", errno));
  }
  return p;
}

}  // namespace curvecp
