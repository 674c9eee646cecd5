// Moves bytes between a curvecp::Stream and a program's pipe pair, with back-pressure in
// both directions, and maps pipe EOFs onto stream EOFs (CURVECP.md 5.3, 6.9).
// Used by the server (program fds 0/1) and the client (program fds 6/7) alike.
//
// program -> network: the output pipe is read only while stream.send_space() > 0, so a
//   fast program is held back by the pipe, not by dropping. Its EOF (read returns 0)
//   becomes close_write() (SUCC); a read error, or an exit with failure, becomes
//   close_write(true) (FAIL). An EOF is held back up to kExitGrace for the exit status.
// network -> program: stream.read() output is written to the input pipe; when the pipe
//   is full the rest waits (and the stream's receive window fills, throttling the peer).
//   Once the peer's EOF has been fully written the input pipe is closed. If the program
//   stops reading for good (EPIPE), later data is read and discarded so the peer is not
//   stalled.
//
// The pump never sends anything itself: after it has put bytes into the stream (or closed
// it) it calls the activity handler so the owner can drain stream.poll_transmit(), and
// the owner calls on_stream_progress() whenever the stream may have new readable data,
// more send space, or the peer's EOF (after on_message and after transmitting).
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
  // Called after the pump changed the stream (wrote bytes, closed our direction, read
  // bytes and so opened receive window). It must not destroy the pump: defer that.
  using ActivityHandler = std::function<void(Timestamp now)>;
  // Tells whether the program has already exited (and how), for an output EOF that races
  // with the exit notification. May be empty.
  using ExitProbe = std::function<std::optional<ExitStatus>()>;

  // `to_program`: our (non-blocking) write end of the program's input pipe.
  // `from_program`: our (non-blocking) read end of the program's output pipe.
  // Both are owned by the pump from now on. `stream` must outlive the pump.
  // Starts reading from the program at once if the stream has send space.
  static Result<std::unique_ptr<Pump>> create(EventLoop& loop, Stream& stream, UniqueFd to_program,
                                              UniqueFd from_program, ActivityHandler on_activity,
                                              ExitProbe exit_probe = {});
  ~Pump() = default;
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  // Call after the stream changed: writes readable bytes to the program, closes its input
  // at the peer's EOF, resumes reading from the program if send space appeared.
  void on_stream_progress(Timestamp now);
  // Call when the program has exited. A failure whose output is still open ends our
  // direction with FAIL (after reading what is already in the pipe).
  void on_program_exit(const ExitStatus& status, Timestamp now);

  // Our direction is closed (stream.close_write was called).
  bool output_finished() const { return output_closed_; }
  // The program's input has been closed (peer EOF delivered, or program stopped reading).
  bool input_finished() const { return !to_program_.valid(); }
  bool finished() const { return output_finished() && input_finished(); }
  const PumpStats& stats() const { return stats_; }

 private:
  static constexpr size_t kChunkBytes = 32768;  // per pump, allocated once
  // An output EOF usually comes from the program's exit, but the kernel closes the pipe a
  // moment before the exit status is available: wait this long for it, so that a failure
  // becomes FAIL, before settling for SUCC (a program that only closed its output).
  static constexpr Duration kExitGrace = Duration::milliseconds(100);

  Pump(EventLoop& loop, Stream& stream, ActivityHandler on_activity, ExitProbe exit_probe)
      : stream_(stream), on_activity_(std::move(on_activity)), exit_probe_(std::move(exit_probe)), loop_(loop) {}
  void on_output_ready(Timestamp now);
  void on_input_ready(Timestamp now);
  // Reads from the program into the stream; true if anything changed in the stream.
  bool read_program();
  void end_output(bool failure);
  void on_output_eof(Timestamp now);
  void on_exit_grace(Timestamp now);
  void write_program();
  void close_input();
  void update_watches();

  Stream& stream_;
  ActivityHandler on_activity_;
  ExitProbe exit_probe_;
  UniqueFd to_program_;
  UniqueFd from_program_;
  // Watchers are declared after the descriptors so they are destroyed first.
  std::unique_ptr<FdWatcher> input_watcher_;
  std::unique_ptr<FdWatcher> output_watcher_;
  EventLoop& loop_;
  std::unique_ptr<Timer> exit_grace_;  // made only when an EOF precedes the exit status
  bool output_closed_ = false;
  bool eof_waiting_for_exit_ = false;
  // Bytes read from the stream and not yet accepted by the pipe: pending_[begin, end).
  std::vector<uint8_t> pending_;
  size_t pending_begin_ = 0;
  size_t pending_end_ = 0;
  bool discarding_ = false;       // the program's input is gone: drop incoming bytes
  bool input_blocked_ = false;    // the input pipe is full
  std::optional<ExitStatus> exit_;
  PumpStats stats_;
};

}  // namespace curvecp
