#include "daemon/event_loop.h"

#include "daemon/process_group_reaper.h"
#include "daemon/uv_handle.h"

namespace curvecp {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  int rc = uv_loop_init(&loop->loop_);
  if (rc != 0) return make_error(uv_error_text("event loop", rc));
  loop->update_now();
  return loop;
}

EventLoop::EventLoop() = default;

EventLoop::~EventLoop() {
  process_groups_.reset();
  // Handles still open belong to owners that outlive us or were orphaned on purpose
  // (a child process left to be reaped). Close them so the loop can be closed.
  // uv_walk skips libuv's internal handles (signal pipe, child watcher).
  uv_walk(&loop_, [](uv_handle_t* handle, void*) { close_and_free(handle); }, nullptr);
  // Close callbacks run on the next iterations; bounded so a foreign active request
  // cannot hang the destructor.
  for (int i = 0; i < 1000 && uv_run(&loop_, UV_RUN_NOWAIT) != 0; ++i) {
  }
  uv_loop_close(&loop_);
}

Timestamp EventLoop::update_now() {
  now_ = read_monotonic_clock();
  return now_;
}

Status EventLoop::run() {
  int rc = uv_run(&loop_, UV_RUN_DEFAULT);
  (void)rc;  // nonzero only means stop() was called with handles still active
  return {};
}

void EventLoop::stop() { uv_stop(&loop_); }

ProcessGroupReaper& EventLoop::process_groups() {
  if (!process_groups_) process_groups_ = std::make_unique<ProcessGroupReaper>(*this);
  return *process_groups_;
}

}  // namespace curvecp
