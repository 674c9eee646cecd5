// What sits at the far side of a connection's stream on this machine: a spawned program
// (its own process group, pipes on two chosen descriptors, the CURVECP* environment), or
// the process's own stdin/stdout (netcat mode of `curvecp connect`), or a TCP connection
// (port forwarding: `serve --forward`, `connect --listen`, daemon/tcp_bridge.h; a TCP
// failure aborts the CurveCP connection, stop() resets the TCP one). One class for both
// roles, so `serve` and `connect` share spawning, pipes, environment, the Pump and the
// rule for ending:
//
//   clean end  the pump delivers the peer's EOF as end of input; once the program has
//              exited and both pipes are finished the application is done().
//   failure    stop(): the program's whole process group gets SIGTERM (SIGKILL after a
//              grace period) BEFORE our pipe ends close, so neither the program nor
//              anything it started mistakes a failure for end of input.
//
// Like the Pump it wraps, an Attachment never calls into its owner from inside
// transfer(); pipe readiness, the program's exit and timers call the wake handler.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "daemon/child_process.h"
#include "daemon/connection.h"
#include "daemon/event_loop.h"
#include "daemon/pump.h"
#include "daemon/tcp_bridge.h"
#include "daemon/unique_fd.h"
#include "scheduler/stream.h"

namespace curvecp {

struct ProgramSpec {
  std::vector<std::string> argv;           // argv[0] looked up in PATH
  std::vector<std::string> env_overrides;  // "NAME=value", added to our environment
  // Clean environment: of ours only PATH, PROTO, CURVECP* and the names in pass_env
  // (child_process.h, clean_environment_with), then env_overrides.
  bool clean_env = false;
  std::vector<std::string> pass_env;
  // Keep descriptors >= 3 we inherited without close-on-exec (default: closed).
  bool keep_fds = false;
  int read_fd = 0;   // the program reads the peer's stream here (server 0, client 6)
  int write_fd = 1;  // the program writes its own stream here (server 1, client 7)
  // Spawn on helper threads (SpawnOptions::asynchronous): serve, whose loop must not wait.
  bool asynchronous = false;
  // One AF_UNIX stream socket on both read_fd and write_fd instead of two pipes (serve
  // --program-socket; the Pump's socket mode): one descriptor per connection for us.
  bool one_socket = false;
};

class Attachment {
 public:
  using WakeHandler = std::function<void(Timestamp now)>;

  // Spawns the program (in a process group of its own) with pipes on spec.read_fd and
  // spec.write_fd (or one socket on both, spec.one_socket). Fails with one line ("spawn PROG: no such file or directory") and
  // leaves nothing running.
  static Result<std::unique_ptr<Attachment>> spawn(EventLoop& loop, const ProgramSpec& spec, WakeHandler wake);
  // Our own ends of already set-up pipes (client/stdio_relay.h): `to_output` receives
  // the peer's stream, `from_input` is read for ours. `input_failed` tells, at the
  // input's EOF, whether it ended by an error (then our direction ends with FAIL).
  static Result<std::unique_ptr<Attachment>> relay(EventLoop& loop, UniqueFd to_output, UniqueFd from_input,
                                                   std::function<bool()> input_failed, WakeHandler wake);
  // Port forwarding: a new TCP connection to `target` (serve --forward), bounded by
  // `connect_timeout`; a connect that fails later fails the CurveCP connection.
  static Result<std::unique_ptr<Attachment>> forward_to(EventLoop& loop, const Address& target,
                                                        Duration connect_timeout, WakeHandler wake);
  // Port forwarding: an accepted TCP connection (connect --listen).
  static Result<std::unique_ptr<Attachment>> forward_from(EventLoop& loop, UniqueFd socket, WakeHandler wake);
  // Unless done(), the program is stopped as by stop(); a clean end signals nothing.
  ~Attachment();
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

  // Moves what it can between the pipes and the connection's stream (see Pump::transfer)
  // and, once the application is done(), tells the connection so (with whether it
  // failed). True if the connection changed and the owner has something to transmit.
  bool transfer(Connection& connection, Timestamp now);
  // The application is done: the program (if any) has exited and both pipes are finished.
  bool done() const;
  // The program failed (non-zero status or a signal), or the relay's input failed.
  bool failed() const;
  // The program's exit status once it has exited (none in relay mode).
  const std::optional<ExitStatus>& exit_status() const { return exit_; }
  // Forwarding: what made the TCP side fail (one line), empty otherwise.
  std::string failure_message() const { return tcp_ ? tcp_->error() : std::string(); }
  // Forwarding: bytes to and from the TCP side (nullptr for a program or a relay).
  const TcpBridgeStats* forward_stats() const { return tcp_ ? &tcp_->stats() : nullptr; }

  // The stream failed: SIGTERM to the program's process group now, SIGKILL after
  // `grace` if any of it is left, then our pipe ends are closed. Idempotent.
  void stop(Duration grace);
  bool stopped() const { return stopped_; }

 private:
  explicit Attachment(WakeHandler wake) : wake_(std::move(wake)) {}
  // The program's descriptors: our ends and the program's (closed here once it has them).
  struct ProgramEnds {
    UniqueFd to_program;    // pipes: input's write end; one socket: the socket
    UniqueFd from_program;  // pipes: output's read end; one socket: none
    std::vector<UniqueFd> theirs;
  };
  static Result<ProgramEnds> make_program_ends(const ProgramSpec& spec, std::vector<FdMapping>& mappings);
  bool transfer_tcp(Connection& connection, Timestamp now);

  WakeHandler wake_;
  std::unique_ptr<ChildProcess> child_;
  std::unique_ptr<Pump> pump_;  // refers to nothing of child_; destroyed first in stop()
  std::unique_ptr<TcpBridge> tcp_;  // forwarding instead of child_ and pump_
  std::optional<ExitStatus> exit_;
  std::function<bool()> input_failed_;
  bool stopped_ = false;
};

// Default grace between SIGTERM and SIGKILL for a stopped program group.
inline constexpr Duration kProgramStopGrace = Duration::seconds(2);

}  // namespace curvecp
