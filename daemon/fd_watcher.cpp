#include "daemon/fd_watcher.h"

#include "daemon/uv_handle.h"

namespace curvecp {

Result<std::unique_ptr<FdWatcher>> FdWatcher::create(EventLoop& loop, int fd, Handler handler) {
  std::unique_ptr<FdWatcher> w(new FdWatcher(loop, std::move(handler)));
  auto* handle = new uv_poll_t{};
  int rc = uv_poll_init(loop.raw(), handle, fd);
  if (rc != 0) {
    delete handle;  // never initialised, so libuv holds no reference to it
    return make_error(uv_error_text("poll", rc));
  }
  handle->data = w.get();
  w->handle_ = handle;
  return w;
}

FdWatcher::~FdWatcher() { close(); }

void FdWatcher::close() {
  if (handle_ == nullptr) return;
  uv_poll_stop(handle_);
  close_and_free(reinterpret_cast<uv_handle_t*>(handle_));
  handle_ = nullptr;
  events_ = 0;
}

void FdWatcher::set_events(int events) {
  if (events == events_ || handle_ == nullptr) return;
  events_ = events;
  if (events == 0) {
    uv_poll_stop(handle_);
  } else {
    uv_poll_start(handle_, events, &FdWatcher::on_poll);
  }
}

void FdWatcher::set_keeps_loop_alive(bool on) {
  if (handle_ == nullptr) return;
  auto* h = reinterpret_cast<uv_handle_t*>(handle_);
  if (on) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void FdWatcher::on_poll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<FdWatcher*>(handle->data);
  if (self != nullptr) self->fire(status, events);
}

void FdWatcher::fire(int status, int events) {
  if (status < 0) {
    // libuv has stopped the handle after the error; forget the selection so the handler
    // can select again.
    events_ = 0;
    events = kReadable | kWritable | kError;
  }
  handler_(events & (kReadable | kWritable | kError), loop_.update_now());
}

}  // namespace curvecp
