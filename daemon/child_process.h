// A spawned program (posix_spawnp) with chosen descriptor numbers and environment, and
// the collection of its exit status.
//
// Spawning cost: glibc's posix_spawn starts the child with vfork semantics (CLONE_VM |
// CLONE_VFORK), so it does not copy our page tables as fork does; a daemon holding
// thousands of connections spawns as cheaply as an empty one (docs/MEMORY.md). Exits are
// collected by the loop's ProcessGroupReaper (SIGCHLD, waitpid on our own children only).
//
// Descriptor mapping: each FdMapping puts one of our descriptors on a chosen number in
// the child (dup2, close-on-exec cleared). Numbers 0, 1, 2 not mapped are inherited from
// us; every other number >= 3 is closed in the child (close_range), including
// descriptors we inherited without close-on-exec, unless close_other_fds is false (then
// only our close-on-exec descriptors are closed, as exec does). The server maps fd 0 (program reads what the client sent) and fd 1
// (program writes to the client); the client maps fd 6 (read from server) and fd 7
// (write to server) and inherits 0/1/2 (CURVECP.md 5.3). The child's signal dispositions
// are reset to the defaults (so SIGPIPE is not ignored there).
//
// Process group: every program is started as the leader of a new session and process
// group (UV_PROCESS_DETACHED, i.e. setsid() in the child; pgid == sid == pid), so that
// terminate() and the destructor can stop it together with everything it started
// (`sh -c 'cat > f; touch done'`: cat must not see a failed stream as a clean EOF).
// setsid() rather than setpgid(): a program in a foreground-less group of our session
// would be stopped by SIGTTIN/SIGTTOU when it touches our terminal; in its own session it
// has no controlling terminal instead (it can still use an inherited tty fd 0/1/2, but
// opening /dev/tty fails). Consequences for the owners: a terminal's ^C (SIGINT) or
// hang-up (SIGHUP) reaches only us, never the program, so the owner must turn them into
// terminate(); the loop still reaps the leader and reports its exit as before.
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
  // Close descriptors >= 3 that are not mapped (see above).
  bool close_other_fds = true;
  // Working directory; empty keeps ours.
  std::string cwd;
  // SIGTERM-to-SIGKILL grace used by ~ChildProcess for a program still running.
  Duration stop_grace = Duration::seconds(5);
  // Spawn on the loop's helper threads (daemon/spawner.h) instead of waiting here for the
  // child to exec. spawn() then returns at once with pid() == 0 ("starting"): the mapped
  // descriptors are duplicated first (so the caller may close its copies as usual), the
  // pid arrives later, a terminate() meanwhile is applied when it does, and an exec
  // failure is logged (one line) and reported through on_exit as exit code 127. With
  // Spawner::kMaxInProgress spawns already in progress, this one is synchronous.
  bool asynchronous = false;
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
  // A child still running (and not already terminate()d) is handled as by
  // terminate(options.stop_grace): its whole group gets SIGTERM now and SIGKILL after the
  // grace if any member is left. The leader is left to be reaped by the loop (its handle
  // is reaped when it exits, while the loop lives); on_exit is not called any more. A child
  // that has exited is not signalled, even if members of its group remain (a clean end
  // signals nothing).
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // 0 while an asynchronous spawn is starting.
  pid_t pid() const { return pid_; }
  // The program's process group id (== pid(), it leads its own group).
  pid_t pgid() const { return pid_; }
  bool running() const { return !exit_.has_value(); }
  // The exit status once reaped.
  const std::optional<ExitStatus>& exit_status() const { return exit_; }
  // Whether the child has exited even if libuv has not reaped it yet (waitid WNOWAIT,
  // leaves the zombie for libuv). Used to tell an output EOF caused by the exit apart.
  std::optional<ExitStatus> peek_exit() const;
  // A hint for the reaper that the program is exiting (its output reached EOF), so that
  // its exit is collected by pid rather than by a scan of every child (process_group_reaper.h).
  void expect_exit();
  // Sends `signum` to the leader only, if it still runs. Returns false if it does not or
  // kill fails.
  bool kill(int signum);

  // For a failed stream (ARCHITECTURE.md, failure semantics), called BEFORE the owner
  // closes the program's descriptors: SIGTERM to every member of the program's group
  // now, SIGKILL to the group after `grace` if kill(-pgid, 0) still finds a member. Works
  // after the leader has exited (the group may outlive it). The escalation is owned by
  // the loop's ProcessGroupReaper (EventLoop::process_groups()), so this object may be
  // destroyed right after the call. A later call or the destructor adds no second
  // escalation; on_exit still runs when the leader is reaped while this object lives.
  void terminate(Duration grace);
  bool terminated() const { return terminated_; }

 private:
  // An asynchronous spawn in progress; shared with the spawner's Done, which outlives us
  // if we are destroyed first (owner then null: the child is terminated once it exists).
  struct Starting {
    ChildProcess* owner = nullptr;
    Duration grace;
    std::string what;
  };
  ChildProcess(EventLoop& loop, ExitHandler on_exit) : loop_(loop), on_exit_(std::move(on_exit)) {}
  static Result<std::unique_ptr<ChildProcess>> spawn_async(EventLoop& loop, const SpawnOptions& options,
                                                           std::unique_ptr<ChildProcess> child);
  // In the loop, with the spawner's result.
  static void started(EventLoop& loop, Starting& s, pid_t pid, int error);
  void exited(int64_t exit_status, int term_signal);

  EventLoop& loop_;
  ExitHandler on_exit_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_;
  Duration stop_grace_ = Duration::seconds(5);
  bool terminated_ = false;
  Duration terminate_grace_;
  std::shared_ptr<Starting> starting_;
};

// Where execvp would find `argv0`: a name containing '/' is used as is; otherwise each
// PATH entry is tried in order (PATH unset: "/bin:/usr/bin" like glibc; an empty entry
// is the current directory). The result must be a regular file we may execute
// (access X_OK). Fails with "program not found or not executable: ARGV0" (an empty
// argv0 too); nothing is executed. The check is advisory: the file can still change
// before a later spawn, whose own failure is reported as before.
Result<std::string> find_executable(const std::string& argv0);

// Our environment with each "NAME=value" of `overrides` replacing or adding NAME.
std::vector<std::string> environment_with(const std::vector<std::string>& overrides);

// A clean program environment: of ours only PATH, PROTO, CURVECP* and the names in
// `pass`, then `overrides` as in environment_with().
std::vector<std::string> clean_environment_with(const std::vector<std::string>& pass,
                                               const std::vector<std::string>& overrides);

}  // namespace curvecp
