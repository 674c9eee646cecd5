// Moves bytes between a curvecp::Stream and a program's pipe pair, with back-pressure in
// both directions, and maps pipe EOFs onto stream EOFs (CURVECP.md 5.3, 6.9). Used by
// the server (program fds 0/1) and the client (program fds 6/7, or its own stdin/stdout
// in netcat mode) alike, through daemon/attachment.h.
//
// Socket mode (create_socket, `serve --program-socket`): one AF_UNIX stream socket
// instead of the two pipes, as under tcpserver, so a connection costs the daemon one
// descriptor. It is watched once for both directions (libuv cannot poll one descriptor
// twice). The peer's EOF becomes shutdown(SHUT_WR), which the program reads as end of
// input; the program's end of output is its shutdown(1, SHUT_WR) or its exit (closing fd
// 1 alone ends nothing while fd 0, the same socket, is open). A reset from the program's
// side (it exited with unread input) counts as its EOF, as a pipe's would.
//
// The pump does its I/O only inside transfer(), which the owner calls; it never calls
// into its owner while doing it. Its descriptor watchers (and the exit-grace timer)
// only record what became ready and call the wake handler, so that the owner runs
// transfer() and then drains the stream: a report of what changed, not a re-entrant
// callback.
//
// program -> network: the output pipe is read only while stream.send_space() > 0, so a
//   fast program is held back by the pipe, not by dropping. Its EOF (read returns 0)
//   becomes close_write() (SUCC); a read error, or an exit with failure, becomes
//   close_write(true) (FAIL). An EOF is held back up to kExitGrace for the exit status.
// network -> program: stream.read() output is written to the input pipe; when the pipe
//   is full the rest waits (and the stream's receive window fills, throttling the peer).
//   Once the peer's EOF has been fully written the input pipe is closed: only a clean
//   EOF (SUCC) is passed on as end of input. After the peer's FAIL the input stays open
//   for the owner, which stops the program before the descriptors close. If the program
//   stops reading for good (EPIPE, or it exited), later data is read and discarded so the
//   peer is not stalled.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "daemon/child_process.h"
#include "daemon/event_loop.h"
#include "daemon/fd_watcher.h"
#include "daemon/timer.h"
#include "daemon/unique_fd.h"
#include "scheduler/stream.h"

namespace curvecp {

struct PumpStats {
  uint64_t bytes_to_program = 0;
  uint64_t bytes_from_program = 0;
  uint64_t bytes_discarded = 0;  // received after the program stopped reading
};

class Pump {
 public:
  // Something became ready: the owner should call transfer() soon. Runs from the loop,
  // never from inside transfer().
  using WakeHandler = std::function<void(Timestamp now)>;
  // Tells whether the program has already exited (and how), for an output EOF that races
  // with the exit notification. May be empty (then an EOF is a clean end at once).
  using ExitProbe = std::function<std::optional<ExitStatus>()>;

  // `to_program`: our (non-blocking) write end of the program's input pipe.
  // `from_program`: our (non-blocking) read end of the program's output pipe.
  // Both are owned by the pump from now on.
  static Result<std::unique_ptr<Pump>> create(EventLoop& loop, UniqueFd to_program, UniqueFd from_program,
                                              WakeHandler wake, ExitProbe exit_probe = {});
  // Socket mode (see above): `socket` is our (non-blocking) end of a stream socket whose
  // other end the program has on both of its descriptors. Owned by the pump from now on.
  static Result<std::unique_ptr<Pump>> create_socket(EventLoop& loop, UniqueFd socket, WakeHandler wake,
                                                     ExitProbe exit_probe = {});
  ~Pump();
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  // Does all the I/O possible now: readable stream bytes to the program, program output
  // into the stream while it has send space, EOFs and a recorded exit. Returns true if
  // the stream changed (bytes written or read, our direction closed), i.e. the owner has
  // something to transmit.
  bool transfer(Stream& stream, Timestamp now);
  // Records the program's exit; the next transfer() acts on it (a failure whose output
  // is still open ends our direction with FAIL, after reading what is in the pipe).
  void on_program_exit(const ExitStatus& status);

  // Our direction is closed (stream.close_write was called).
  bool output_finished() const { return output_closed_; }
  // The program's input has been closed (peer EOF delivered, or program stopped reading).
  bool input_finished() const { return !input_open(); }
  bool finished() const { return output_finished() && input_finished(); }
  const PumpStats& stats() const { return stats_; }

 private:
  static constexpr size_t kChunkBytes = 32768;  // per write to the program, via the shared scratch
  // An output EOF usually comes from the program's exit, but the kernel closes the pipe a
  // moment before the exit status is available: wait this long for it, so that a failure
  // becomes FAIL, before settling for SUCC (a program that only closed its output).
  static constexpr Duration kExitGrace = Duration::milliseconds(100);

  Pump(EventLoop& loop, WakeHandler wake, ExitProbe exit_probe)
      : wake_(std::move(wake)), exit_probe_(std::move(exit_probe)), loop_(loop) {}
  bool apply_exit(Stream& stream);
  // Reads from the program into the stream; true if anything changed in the stream.
  bool read_program(Stream& stream, Timestamp now);
  void on_output_eof(Stream& stream, Timestamp now);
  void end_output(Stream& stream, bool failure);
  // Writes stream bytes to the program; true if any were taken from the stream.
  bool write_program(Stream& stream);
  // After a write of data[begin, end): keeps what the pipe did not take in pending_
  // (`staged`: data already is pending_), or frees pending_ when all of it went.
  void hold_back(const uint8_t* data, size_t begin, size_t end, bool staged);
  void close_input();
  // Stops reading the program's output for good (pipe closed, or the socket's read side).
  void close_output();
  // Socket mode: closes the socket once neither direction uses it.
  void release_socket_if_done();
  void on_ready(int events, Timestamp now);
  void update_watches(const Stream& stream);
  bool input_open() const { return socket_mode_ ? socket_input_open_ : to_program_.valid(); }
  bool output_open() const { return socket_mode_ ? socket_output_open_ : from_program_.valid(); }
  int output_fd() const { return socket_mode_ ? to_program_.get() : from_program_.get(); }

  WakeHandler wake_;
  ExitProbe exit_probe_;
  UniqueFd to_program_;    // the input pipe's write end; in socket mode the socket
  UniqueFd from_program_;  // the output pipe's read end; unused in socket mode
  bool socket_mode_ = false;
  bool socket_input_open_ = false;   // socket mode: we have not shut down our write side
  bool socket_output_open_ = false;  // socket mode: we still read the program's output
  // Watchers are declared after the descriptors so they are destroyed first. In socket
  // mode input_watcher_ watches the socket for both directions and output_watcher_ is null.
  std::unique_ptr<FdWatcher> input_watcher_;
  std::unique_ptr<FdWatcher> output_watcher_;
  EventLoop& loop_;
  // Made only when an EOF precedes the exit status; a libuv timer (no descriptor, no
  // system call: the grace needs no better than millisecond resolution), freed by its
  // close callback (daemon/uv_handle.h).
  uv_timer_t* exit_grace_ = nullptr;
  static void on_exit_grace(uv_timer_t* handle);
  bool output_ready_ = true;      // the output pipe may have data (or EOF) to read
  bool input_blocked_ = false;    // the input pipe is full
  bool output_closed_ = false;
  bool eof_waiting_for_exit_ = false;
  bool exit_grace_over_ = false;
  bool exit_unapplied_ = false;
  // Bytes read from the stream and not yet accepted by the pipe: pending_[begin, end).
  // Empty (no allocation) while nothing is held back.
  std::vector<uint8_t> pending_;
  size_t pending_begin_ = 0;
  size_t pending_end_ = 0;
  bool discarding_ = false;       // the program's input is gone: drop incoming bytes
  std::optional<ExitStatus> exit_;
  PumpStats stats_;
};

}  // namespace curvecp
