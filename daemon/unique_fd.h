// RAII owner of one file descriptor, and pipe creation for program I/O.
#pragma once

#include <utility>

#include "core/result.h"

namespace curvecp {

// Owns a descriptor and closes it on destruction. Move-only. -1 means "none".
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  // Closes the descriptor (if any) and optionally takes a new one.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A pipe: `read_end` and `write_end`, both close-on-exec (a spawned program gets its end
// through an explicit descriptor mapping, daemon/child_process.h).
struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

// Creates a pipe. `nonblocking_read` / `nonblocking_write` make that end O_NONBLOCK
// (our side of program pipes; the program's side stays blocking, as with the reference,
// CURVECP.md 5.3). Fails with the errno text.
Result<Pipe> make_pipe(bool nonblocking_read, bool nonblocking_write);

// Sets or clears O_NONBLOCK. Returns false on failure.
bool set_nonblocking(int fd, bool on);

// "what: strerror(errno)".
std::string errno_text(const char* what, int err);

}  // namespace curvecp
