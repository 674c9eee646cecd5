#include "client/stdio_relay.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace curvecp {

namespace {

constexpr size_t kCopyBytes = 65536;
constexpr int kPipeBytes = 1 << 20;
// Bytes asked of one splice() call: the pipe takes what fits.
constexpr size_t kSpliceBytes = 1 << 20;

// The outcome of moving bytes with splice(2).
enum class Spliced : uint8_t { end, unsupported, error };

// Moves bytes from `from` to `to` (one of them a pipe) with splice(2) until `from` ends
// or an error: the kernel passes page references instead of copying every byte into
// our buffer and out again. unsupported (EINVAL: a terminal, a file opened O_APPEND, an
// old kernel) comes only before anything was moved, so the caller can fall back to
// read/write with nothing lost; error leaves errno set.
Spliced splice_all(int from, int to) {
  bool moved = false;
  for (;;) {
    const ssize_t n = ::splice(from, nullptr, to, nullptr, kSpliceBytes, SPLICE_F_MOVE);
    if (n > 0) {
      moved = true;
      continue;
    }
    if (n == 0) return Spliced::end;
    if (errno == EINTR) continue;
    if (!moved && (errno == EINVAL || errno == ENOSYS)) return Spliced::unsupported;
    return Spliced::error;
  }
}

// Writes all of [p, p+n) to a blocking descriptor; false with errno set on failure.
bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// When `fd` is a pipe or FIFO: a descriptor of our own for its read side, non-blocking,
// or an invalid one. Opening /proc/self/fd/N gives a new open file description of the
// same pipe, so O_NONBLOCK on it does not touch the description we inherited (which a
// shell or a later command may share); the loop can then read the pipe itself, without
// the reader thread and the second pipe.
UniqueFd reopen_pipe_nonblocking(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) return UniqueFd();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return UniqueFd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
}

}  // namespace

Result<std::unique_ptr<StdioRelay>> StdioRelay::start(int input_fd, int output_fd, LoopEnds& ends) {
  std::unique_ptr<StdioRelay> r(new StdioRelay());
  r->input_fd_ = input_fd;
  r->output_fd_ = output_fd;
  auto out = make_pipe(/*nonblocking_read=*/false, /*nonblocking_write=*/true);
  if (!out) return out.error();
  ends.to_output = std::move(out->write_end);
  r->output_pipe_read_ = std::move(out->read_end);
  // Larger pipes: fewer wake-ups of the threads and the loop per megabyte (best effort).
  (void)::fcntl(r->output_pipe_read_.get(), F_SETPIPE_SZ, kPipeBytes);
  if (UniqueFd own = reopen_pipe_nonblocking(input_fd); own.valid()) {
    // stdin is a pipe (as `curvecp push` gives us): the Pump reads it directly.
    ends.from_input = std::move(own);
    r->reader_done_.store(true);
  } else {
    // Loop ends non-blocking (the Pump's requirement), thread ends blocking.
    auto in = make_pipe(/*nonblocking_read=*/true, /*nonblocking_write=*/false);
    if (!in) return in.error();
    ends.from_input = std::move(in->read_end);
    r->input_pipe_write_ = std::move(in->write_end);
    (void)::fcntl(r->input_pipe_write_.get(), F_SETPIPE_SZ, kPipeBytes);
    r->reader_ = std::thread([p = r.get()] { p->copy_input(); });
  }
  r->writer_ = std::thread([p = r.get()] { p->copy_output(); });
  return r;
}

StdioRelay::~StdioRelay() {
  if (writer_.joinable()) writer_.join();
  if (reader_.joinable()) {
    if (reader_done_.load()) {
      reader_.join();
    } else {
      reader_.detach();  // blocked on a terminal or a silent pipe; see the header
    }
  }
}

void StdioRelay::copy_input() {
  // splice() first (a regular file or a pipe on stdin, as `curvecp push` gives us).
  const Spliced spliced = splice_all(input_fd_, input_pipe_write_.get());
  // EPIPE: the Pump is gone (the connection ended first), as with write_all below.
  if (spliced == Spliced::error && errno != EPIPE) input_error_ = errno_text("read from stdin", errno);
  std::vector<uint8_t> buf(spliced == Spliced::unsupported ? kCopyBytes : 0);
  while (spliced == Spliced::unsupported) {
    ssize_t n = ::read(input_fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      input_error_ = errno_text("read from stdin", errno);
      break;
    }
    if (n == 0) break;  // stdin EOF: closing the pipe makes the Pump send our EOF
    // EPIPE means the Pump is gone (the connection ended first): nothing more to do.
    if (!write_all(input_pipe_write_.get(), buf.data(), static_cast<size_t>(n))) break;
  }
  input_pipe_write_.reset();
  reader_done_.store(true);
}

void StdioRelay::copy_output() {
  // splice() first (stdout a regular file, a pipe or /dev/null); the pipe's EOF is the
  // end of the server's stream.
  const Spliced spliced = splice_all(output_pipe_read_.get(), output_fd_);
  if (spliced == Spliced::error) output_error_ = errno_text("write to stdout", errno);
  std::vector<uint8_t> buf(spliced == Spliced::unsupported ? kCopyBytes : 0);
  while (spliced == Spliced::unsupported) {
    ssize_t n = ::read(output_pipe_read_.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the Pump closed its end: the server's stream is complete
    if (!write_all(output_fd_, buf.data(), static_cast<size_t>(n))) {
      output_error_ = errno_text("write to stdout", errno);
      break;  // closing our pipe end below makes the Pump discard the rest (EPIPE)
    }
  }
  output_pipe_read_.reset();
  // Close stdout so that whoever reads it sees EOF now; /dev/null keeps the number
  // taken so no later open() lands on it.
  int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, output_fd_);
    ::close(null_fd);
  } else {
    ::close(output_fd_);
  }
}

Status StdioRelay::finish_output() {
  if (writer_.joinable()) writer_.join();
  if (!output_error_.empty()) return make_error(output_error_);
  return {};
}

std::string StdioRelay::input_error() const { return reader_done_.load() ? input_error_ : std::string(); }

}  // namespace curvecp
