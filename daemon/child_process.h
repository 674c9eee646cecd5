// A spawned program (uv_spawn) with chosen descriptor numbers and environment, and the
// collection of its exit status.
//
// Descriptor mapping: each FdMapping puts one of our descriptors on a chosen number in
// the child (dup2, close-on-exec cleared). Numbers 0, 1, 2 not mapped are inherited from
// us; other unmapped numbers are closed in the child (all our descriptors are
// close-on-exec). The server maps fd 0 (program reads what the client sent) and fd 1
// (program writes to the client); the client maps fd 6 (read from server) and fd 7
// (write to server) and inherits 0/1/2 (CURVECP.md 5.3). The child's signal dispositions
// are reset to the defaults (so SIGPIPE is not ignored there).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "daemon/event_loop.h"

namespace curvecp {

struct FdMapping {
  int child_fd;   // number in the child
  int parent_fd;  // our descriptor (stays ours; close it after spawn())
};

struct SpawnOptions {
  // argv[0] is looked up in PATH (execvp). Must not be empty.
  std::vector<std::string> argv;
  // The complete environment ("NAME=value"); see environment_with().
  std::vector<std::string> env;
  std::vector<FdMapping> fds;
  // Working directory; empty keeps ours.
  std::string cwd;
};

struct ExitStatus {
  int64_t code = 0;  // exit code when not killed
  int signal = 0;    // terminating signal, 0 if it exited
  bool success() const { return code == 0 && signal == 0; }
};

class ChildProcess {
 public:
  using ExitHandler = std::function<void(ExitStatus status, Timestamp now)>;

  // Starts the program. Fails (with the errno text, e.g. "spawn prog: no such file or
  // directory") if it cannot be executed; nothing is left running then.
  // `on_exit` runs once, in the loop, when the child has exited and been reaped.
  static Result<std::unique_ptr<ChildProcess>> spawn(EventLoop& loop, const SpawnOptions& options,
                                                     ExitHandler on_exit);
  // A child still running is sent SIGTERM and left to be reaped by the loop (its handle
  // is closed after the exit, or by ~EventLoop). on_exit is not called any more.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return !exit_.has_value(); }
  // The exit status once reaped.
  const std::optional<ExitStatus>& exit_status() const { return exit_; }
  // Whether the child has exited even if libuv has not reaped it yet (waitid WNOWAIT,
  // leaves the zombie for libuv). Used to tell an output EOF caused by the exit apart.
  std::optional<ExitStatus> peek_exit() const;
  // Sends `signum` if the child still runs. Returns false if it does not or kill fails.
  bool kill(int signum);

 private:
  ChildProcess(EventLoop& loop, ExitHandler on_exit) : loop_(loop), on_exit_(std::move(on_exit)) {}
  static void on_exit_cb(uv_process_t* handle, int64_t exit_status, int term_signal);
  void exited(int64_t exit_status, int term_signal);

  EventLoop& loop_;
  ExitHandler on_exit_;
  uv_process_t* handle_ = nullptr;
  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_;
};

// Our environment with each "NAME=value" of `overrides` replacing or adding NAME.
std::vector<std::string> environment_with(const std::vector<std::string>& overrides);

}  // namespace curvecp
