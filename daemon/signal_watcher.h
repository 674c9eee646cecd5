// Delivery of one POSIX signal (SIGTERM, SIGINT, SIGUSR1, ...) as a loop callback
// (uv_signal_t), so handlers run in the loop, not in signal context.
// Child exits are not watched here: ChildProcess gets them from the loop's
// ProcessGroupReaper, which watches SIGCHLD itself (daemon/process_group_reaper.h).
#pragma once

#include <functional>
#include <memory>

#include "core/result.h"
#include "core/time.h"
#include "daemon/event_loop.h"

namespace curvecp {

class SignalWatcher {
 public:
  using Handler = std::function<void(int signum, Timestamp now)>;

  // Starts catching `signum`. Fails if libuv cannot install the handler.
  static Result<std::unique_ptr<SignalWatcher>> create(EventLoop& loop, int signum, Handler handler);
  // Stops catching (the previous disposition is restored by libuv); handle freed on close.
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  SignalWatcher(EventLoop& loop, Handler handler) : loop_(loop), handler_(std::move(handler)) {}
  static void on_signal(uv_signal_t* handle, int signum);
  void fire(int signum);

  EventLoop& loop_;
  Handler handler_;
  uv_signal_t* handle_ = nullptr;
};

// Sets SIGPIPE to "ignore" for this process, so a write to a closed pipe is an EPIPE
// error, not death. Spawned programs get the default back (ChildProcess resets dispositions).
void ignore_sigpipe();

}  // namespace curvecp
