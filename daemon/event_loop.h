// The one libuv event loop of a process, and its notion of "now".
//
// The runtime reads the monotonic clock once per callback: every handle owner in daemon/
// calls update_now() when libuv calls it and passes the result down, so the sans-I/O
// engines see one consistent Timestamp per event (ARCHITECTURE.md).
#pragma once

#include <uv.h>

#include <memory>

#include "core/result.h"
#include "core/time.h"

namespace curvecp {

class ProcessGroupReaper;

class EventLoop {
 public:
  // Initialises a fresh loop (not uv_default_loop). Fails only if libuv cannot.
  static Result<std::unique_ptr<EventLoop>> create();
  // Every handle created on this loop must be heap-allocated and owned by the
  // close_and_free() convention (daemon/uv_handle.h).
  // First destroys the process-group reaper (groups still pending get SIGKILL at once,
  // daemon/process_group_reaper.h). Then closes every handle still open on the loop
  // (handle owners must be destroyed first, or their handles are closed here and their
  // callbacks never run again), runs the loop until all close callbacks have freed them,
  // then closes the loop.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_t* raw() { return &loop_; }

  // The time read by the last update_now(): the "now" of the current callback.
  Timestamp now() const { return now_; }
  // Reads the monotonic clock, stores and returns it. Called once at the top of each
  // libuv callback by the handle owners.
  Timestamp update_now();

  // Runs until stop() is called or nothing is left to wait for. Returns an error only if
  // libuv reports one.
  Status run();
  // Makes run() return after the current callback.
  void stop();

  // The loop's process-group reaper (created on first use, lives until ~EventLoop):
  // ChildProcess hands it the groups it terminates, so their SIGKILL escalation outlives
  // the ChildProcess object.
  ProcessGroupReaper& process_groups();

 private:
  EventLoop();
  uv_loop_t loop_{};
  Timestamp now_{};
  std::unique_ptr<ProcessGroupReaper> process_groups_;
};

}  // namespace curvecp
