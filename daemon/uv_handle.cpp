#include "daemon/uv_handle.h"

#include <time.h>

#include <string>

namespace curvecp {

namespace {

void free_handle(uv_handle_t* handle) {
  switch (handle->type) {
    case UV_POLL: delete reinterpret_cast<uv_poll_t*>(handle); break;
    case UV_TIMER: delete reinterpret_cast<uv_timer_t*>(handle); break;
    case UV_SIGNAL: delete reinterpret_cast<uv_signal_t*>(handle); break;
    case UV_PROCESS: delete reinterpret_cast<uv_process_t*>(handle); break;
    case UV_ASYNC: delete reinterpret_cast<uv_async_t*>(handle); break;
    case UV_IDLE: delete reinterpret_cast<uv_idle_t*>(handle); break;
    case UV_PREPARE: delete reinterpret_cast<uv_prepare_t*>(handle); break;
    case UV_CHECK: delete reinterpret_cast<uv_check_t*>(handle); break;
    case UV_NAMED_PIPE: delete reinterpret_cast<uv_pipe_t*>(handle); break;  // control_server.h
    default:
      // Handles of other types are never created by daemon/; libuv-internal ones are
      // never passed here (EventLoop skips them).
      break;
  }
}

}  // namespace

void close_and_free(uv_handle_t* handle) {
  if (handle == nullptr || uv_is_closing(handle)) return;
  handle->data = nullptr;
  uv_close(handle, free_handle);
}

Timestamp read_monotonic_clock() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Timestamp{static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec};
}

std::string uv_error_text(const char* what, int status) {
  return std::string(what) + ": " + uv_strerror(status);
}

}  // namespace curvecp
