// Terminating whole process groups: SIGTERM now, SIGKILL after a grace period if any
// member is still there (ARCHITECTURE.md, failure semantics: the program's process group
// is signalled before its descriptors close).
//
// Every program spawned by ChildProcess leads its own process group (daemon/child_process.h),
// so `sh -c 'cat > f; touch done'` is stopped as a whole and `cat` never mistakes a failed
// stream for a clean EOF. The escalation needs a timer that outlives the ChildProcess (a
// connection may be destroyed right after it asked for termination), so it lives here: one
// reaper per EventLoop, owned by the loop (EventLoop::process_groups()).
//
// A group is "still there" while kill(-pgid, 0) succeeds. That includes members that
// have died but are not reaped yet (zombies), and the group can outlive its leader.
// Pending groups are checked every kPollInterval, so pending() drops soon after a group
// has gone and finish() does not wait out the grace for nothing.
//
// The group id is the leader's pid. The kernel does not hand out a pid that is still in
// use as a process group id, so the id cannot be reused while any member lives; after
// the last member is gone, a reused id would need the pid space to wrap within one poll
// interval (bounded risk accepted, and documented).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "daemon/event_loop.h"

namespace curvecp {

class Spawner;
class Timer;

class ProcessGroupReaper {
 public:
  // How often pending groups are checked for having gone.
  static constexpr Duration kPollInterval = Duration::milliseconds(50);

  // Created on first use by EventLoop::process_groups(); standalone use is possible too.
  explicit ProcessGroupReaper(EventLoop& loop);
  // Groups still pending get SIGKILL at once (kill_pending(): nobody would be left to
  // escalate). Call finish() first to give them their full grace.
  ~ProcessGroupReaper();
  ProcessGroupReaper(const ProcessGroupReaper&) = delete;
  ProcessGroupReaper& operator=(const ProcessGroupReaper&) = delete;

  // Sends SIGTERM to every member of group `pgid` now, and SIGKILL to the group at
  // now + grace if kill(-pgid, 0) still succeeds then. A group already pending keeps the
  // earlier of its two deadlines (and is sent SIGTERM again). A group that is already
  // gone is not recorded. pgid must be > 1. If the escalation timer cannot be created
  // (timerfd exhausted) the group is sent SIGKILL at once rather than never.
  void terminate(pid_t pgid, Duration grace, Timestamp now);

  // --- exits of spawned programs (ChildProcess, posix_spawn) ---
  // The exit status of a reaped child: exit code, or the terminating signal.
  using ExitCallback = std::function<void(int64_t exit_code, int term_signal)>;
  // Starts watching SIGCHLD (once per loop). Call before spawning, so that no exit can
  // come before the watch. Fails if libuv cannot install the handler.
  Status prepare_exit_watch();
  // After a spawn: reaps `pid` (waitpid) when it exits and then calls `on_exit` in the
  // loop. While any child is watched the loop stays alive, as libuv's own process
  // handles keep it.
  void watch_exit(pid_t pid, ExitCallback on_exit);
  // The owner is gone: the child is still reaped when it exits, but nobody is told.
  void forget_exit(pid_t pid);
  // A hint that watched child `pid` is about to exit or has exited (its output reached
  // EOF). At a SIGCHLD such children are asked first, by pid (O(1) each); only when none
  // of them had exited is every child scanned at once (waitid(P_ALL) walks all our
  // children in the kernel: O(programs) per call, 0.5 ms at 10 000). When some had, the
  // full scan still runs, for exits nobody hinted at, but at most once per kScanDelay
  // (signals coalesce: it finds whatever the hinted exits hid).
  void expect_exit(pid_t pid);
  static constexpr uint64_t kScanDelayMs = 100;
  // Children still watched.
  size_t watched_children() const { return children_.size(); }
  // Reaps watched children that have exited now, without waiting for a SIGCHLD: for a
  // child watched only after it may already have exited (an asynchronous spawn).
  void reap_exited() { reap_children(); }
  // The same for one watched child: waitpid(pid, WNOHANG), O(1) however many children
  // we have (waitid(P_ALL) walks them all in the kernel). Its callback runs now if it has
  // exited.
  void reap_if_exited(pid_t pid);
  // The loop's helper threads for asynchronous spawns (daemon/spawner.h), started on
  // first use and stopped before the groups are killed. Fails with one line.
  Result<Spawner*> spawner();

  // Groups whose escalation is still pending.
  size_t pending() const { return groups_.size(); }
  // Runs the loop until no group is pending: each gets the rest of its grace to exit on
  // its SIGTERM, then SIGKILL. Bounded by the longest grace. Other handles' callbacks run
  // meanwhile as in run() (a signal watcher may call kill_pending() to cut the wait
  // short). For use after run() has returned, before the loop is destroyed at exit, so
  // that a program's TERM handler gets its grace instead of the destructor's SIGKILL;
  // never from inside a loop callback (libuv's uv_run is not re-entrant).
  void finish();
  // SIGKILL to every pending group now; none is pending afterwards. Returns how many
  // groups were still there.
  size_t kill_pending();

 private:
  struct Group {
    pid_t pgid;
    Timestamp kill_at;
  };
  void on_timer(Timestamp now);
  static void on_sigchld(uv_signal_t* handle, int signum);
  void reap_children();
  // waitid(P_ALL, WNOWAIT) until no watched child has exited (see reap_children).
  void scan_children(std::vector<std::pair<ExitCallback, std::pair<int64_t, int>>>& exited);
  static void on_scan_timer(uv_timer_t* handle);
  // waitpid(WNOHANG) on one watched child: if it has exited, moves its callback and
  // status to `exited` and forgets it (true); false while it runs.
  bool reap_one(std::unordered_map<pid_t, ExitCallback>::iterator it,
                std::vector<std::pair<ExitCallback, std::pair<int64_t, int>>>& exited);
  void rearm(Timestamp now);

  EventLoop& loop_;
  std::unique_ptr<Timer> timer_;
  std::vector<Group> groups_;
  uv_signal_t* sigchld_ = nullptr;  // freed by its close callback (daemon/uv_handle.h)
  std::unordered_map<pid_t, ExitCallback> children_;
  std::unordered_set<pid_t> expected_;  // watched children hinted by expect_exit()
  uv_timer_t* scan_timer_ = nullptr;     // the delayed full scan; freed by its close callback
  std::unique_ptr<Spawner> spawner_;
};

// Whether any process of group `pgid` exists (zombies included): kill(-pgid, 0) == 0.
bool process_group_exists(pid_t pgid);

}  // namespace curvecp
