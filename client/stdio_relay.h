// Netcat mode of `curvecp connect`: the process's own stdin and stdout stand in for a
// program's pipes, so that the daemon's Pump (daemon/pump.h) serves both modes.
//
// Why threads: stdin and stdout may be regular files (`< file`, `> file`), which an event
// loop cannot poll (epoll refuses them), or terminals shared with the shell, whose file
// status flags we must not switch to non-blocking. Two small threads copy with plain
// blocking I/O between them and two pipes; the loop side of those pipes is non-blocking
// and goes to the Pump, exactly like a spawned program's pipes. The threads move bytes
// with splice(2) where the kernel allows it (stdin or stdout a file, a pipe, /dev/null),
// so the bytes are not copied through the thread, and fall back to read/write otherwise.
// When stdin is a pipe or FIFO (as `curvecp push` gives it), there is no reader thread:
// the Pump reads a non-blocking descriptor of its own for that pipe (a new open file
// description, so the flags of the one we inherited stay as they were).
//
//   stdin  --(reader thread)-->  pipe  --> Pump --> Stream (our direction; stdin EOF = our EOF)
//   stdout <--(writer thread)--  pipe  <-- Pump <-- Stream (server's EOF closes stdout)
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "core/result.h"
#include "daemon/unique_fd.h"

namespace curvecp {

class StdioRelay {
 public:
  // The loop's ends of the two pipes, non-blocking, for Pump::create.
  struct LoopEnds {
    UniqueFd to_output;    // Pump writes what the server sent here (it reaches stdout)
    UniqueFd from_input;   // Pump reads what stdin provided here
  };

  // Creates the pipes and starts the threads (the reader only when stdin is not a pipe)
  // on descriptors `input_fd` and `output_fd` (normally 0 and 1; not owned). Fails with
  // the errno text.
  static Result<std::unique_ptr<StdioRelay>> start(int input_fd, int output_fd, LoopEnds& ends);
  // Joins the writer thread (the Pump must have been destroyed, closing its pipe end, or
  // this waits for it) and detaches the reader if it is still blocked in read(): it may
  // wait for a terminal forever, and the process is about to exit anyway.
  ~StdioRelay();
  StdioRelay(const StdioRelay&) = delete;
  StdioRelay& operator=(const StdioRelay&) = delete;

  // Waits until everything the Pump wrote has reached output_fd and output_fd has been
  // closed (replaced by /dev/null so the reader downstream sees EOF). Call once the Pump
  // is gone. Returns the first write error on output_fd ("write to stdout: ..."), if any.
  Status finish_output();
  // A read error on input_fd ("read from stdin: ..."), if one happened.
  std::string input_error() const;

 private:
  StdioRelay() = default;
  void copy_input();
  void copy_output();

  int input_fd_ = -1;
  int output_fd_ = -1;
  UniqueFd input_pipe_write_;   // reader thread -> Pump
  UniqueFd output_pipe_read_;   // Pump -> writer thread
  std::thread reader_;
  std::thread writer_;
  std::atomic<bool> reader_done_{false};
  std::string input_error_;     // written by the reader thread before reader_done_
  std::string output_error_;    // written by the writer thread before it ends
};

}  // namespace curvecp
