#include "daemon/signal_watcher.h"

#include <signal.h>

#include "daemon/uv_handle.h"

namespace curvecp {

Result<std::unique_ptr<SignalWatcher>> SignalWatcher::create(EventLoop& loop, int signum, Handler handler) {
  std::unique_ptr<SignalWatcher> w(new SignalWatcher(loop, std::move(handler)));
  auto* handle = new uv_signal_t{};
  int rc = uv_signal_init(loop.raw(), handle);
  if (rc != 0) {
    delete handle;
    return make_error(uv_error_text("signal", rc));
  }
  handle->data = w.get();
  w->handle_ = handle;
  rc = uv_signal_start(handle, &SignalWatcher::on_signal, signum);
  if (rc != 0) return make_error(uv_error_text("signal", rc));  // ~SignalWatcher closes it
  return w;
}

SignalWatcher::~SignalWatcher() {
  if (handle_ != nullptr) {
    uv_signal_stop(handle_);
    close_and_free(reinterpret_cast<uv_handle_t*>(handle_));
  }
}

void SignalWatcher::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<SignalWatcher*>(handle->data);
  if (self != nullptr) self->fire(signum);
}

void SignalWatcher::fire(int signum) { handler_(signum, loop_.update_now()); }

void ignore_sigpipe() {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, nullptr);
}

}  // namespace curvecp
