// Program spawning off the event loop: a few helper threads that run posix_spawnp for
// the loop, so that the loop never waits for a child to exec.
//
// Why: posix_spawn starts the child with vfork semantics (CLONE_VM | CLONE_VFORK), and
// the caller sleeps until the child has exec'd. On a loaded host the child first waits
// for a CPU: measured at ~10 ms per spawn with the daemon asleep in kernel_clone at 3-16 %
// CPU, so one daemon started ~100 programs per second however idle its own loop was
// (docs/MEMORY.md). With the waits on helper threads, several children wait at once and
// the loop keeps serving datagrams meanwhile.
//
// Threading rule: the protocol engine, the connection table and every libuv handle stay
// on the loop's thread. A helper thread only runs a Work function (which must touch
// nothing but what it owns: prepared argv, environment and its own descriptors) and
// queues the result; the loop thread, woken through a uv_async_t, runs each Done.
// Helper threads block every signal, so signal handlers run where they did before.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/result.h"
#include "daemon/event_loop.h"

namespace curvecp {

class Spawner {
 public:
  // Runs on a helper thread: returns the new child's pid, or -1 and an errno value.
  using Work = std::function<std::pair<pid_t, int>()>;
  // Runs in the loop with Work's result.
  using Done = std::function<void(pid_t pid, int error)>;
  static constexpr size_t kThreads = 4;
  // Spawns in progress at most: each holds the program's two pipe ends until its child
  // has them, so the backlog must stay within the descriptors serve reserves (64 spare,
  // serve_command.cpp). The owner spawns synchronously when this many are in progress:
  // the loop then waits, which is the backpressure.
  static constexpr size_t kMaxInProgress = 16;

  // Starts the helper threads and the loop's wake-up handle (which does not keep the loop
  // alive). Fails with one line if either cannot be created.
  static Result<std::unique_ptr<Spawner>> create(EventLoop& loop);
  // Waits for spawns in progress, then stops the threads. Work not started is dropped;
  // children spawned whose Done has not run are sent SIGKILL (their group) and are left
  // to the loop's reaper: nobody owns them any more.
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  void submit(Work work, Done done);
  // Submitted and not yet done (queued, running, or waiting for the loop).
  size_t in_progress() const { return in_progress_; }

 private:
  struct Job {
    Work work;
    Done done;
    pid_t pid = -1;
    int error = 0;
  };
  explicit Spawner(EventLoop& loop) : loop_(loop) {}
  void run_thread();
  static void on_async(uv_async_t* handle);
  void deliver();

  EventLoop& loop_;
  uv_async_t* async_ = nullptr;  // freed by its close callback (daemon/uv_handle.h)
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queued_;     // guarded by mutex_
  std::deque<Job> finished_;   // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  std::vector<std::thread> threads_;
  size_t in_progress_ = 0;     // loop thread only
};

}  // namespace curvecp
