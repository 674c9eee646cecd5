// Blocking frame I/O for `curvecp push` and `curvecp receive`: the push protocol
// (push_protocol.h) over a pair of descriptors (pipes to `curvecp connect`, or a server
// program's fds 0 and 1). Both ends are single-threaded programs doing plain blocking
// reads and writes; the CurveCP stream in between does the buffering.
//
// A read or write interrupted by a signal calls the interrupt hook: if it returns an error
// (the user asked to stop) the operation fails with it, otherwise it is retried (SIGUSR1
// status lines).
#pragma once

#include <functional>
#include <vector>

#include "client/push_protocol.h"
#include "core/result.h"

namespace curvecp::push {

class FrameChannel {
 public:
  using InterruptHook = std::function<Status()>;
  FrameChannel(int read_fd, int write_fd, InterruptHook on_interrupt)
      : read_fd_(read_fd), write_fd_(write_fd), on_interrupt_(std::move(on_interrupt)) {}

  // Frames are appended here and written by flush() (or once more than ~1 MiB waits).
  std::vector<uint8_t>& out() { return out_; }
  Status maybe_flush();
  Status flush();
  // Sends `data` (<= kMaxData) as a Data frame. A large one goes out at once with what
  // out() holds, in one writev straight from `data` (no copy into out()); a small one is
  // appended to out() like any frame.
  Status send_data(Bytes data);
  // The next frame; "the peer closed the stream" at EOF, an error for a malformed frame.
  Result<Frame> receive();
  // Like receive(), without copying the payload (for file data): valid until the next
  // call of any method.
  Result<FrameView> receive_view();
  // Reads until EOF, failing on any byte that arrives (the peer must have said all).
  Status expect_eof();
  // Reads and discards until EOF or an error (after we stopped the conversation).
  void discard_until_eof();
  // Closes the write side: the peer sees EOF after everything flushed.
  void close_write();
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  Status write_all(const uint8_t* p, size_t n);
  // Writes all of `first` then all of `second` (writev, resumed after partial writes).
  Status write_both(Bytes first, Bytes second);
  Result<size_t> read_some(uint8_t* p, size_t n);

  int read_fd_;
  int write_fd_;
  InterruptHook on_interrupt_;
  std::vector<uint8_t> out_;
  FrameDecoder decoder_;
  std::vector<uint8_t> in_buffer_ = std::vector<uint8_t>(16 * 1024);  // expect_eof, discard_until_eof
  uint64_t bytes_written_ = 0;
};

}  // namespace curvecp::push
