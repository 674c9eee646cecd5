// One one-shot timer with nanosecond resolution on the monotonic clock.
//
// libuv timers have millisecond granularity, too coarse for pacing at hundreds of
// thousands of packets per second, so this is a timerfd (CLOCK_MONOTONIC, absolute
// deadlines) watched by the loop. Deadlines are Timestamps from EventLoop::now().
#pragma once

#include <functional>
#include <memory>

#include "core/result.h"
#include "core/time.h"
#include "daemon/event_loop.h"
#include "daemon/fd_watcher.h"
#include "daemon/unique_fd.h"

namespace curvecp {

class Timer {
 public:
  using Handler = std::function<void(Timestamp now)>;

  // Creates a disarmed timer. Fails if timerfd_create does.
  static Result<std::unique_ptr<Timer>> create(EventLoop& loop, Handler handler);
  ~Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Fires once at `deadline` (at once, on the next loop iteration, if it has passed).
  // Replaces any earlier deadline; never() disarms. Re-arming to the same deadline costs
  // no system call.
  void arm(Timestamp deadline);
  // The same, except that a timer already due at `now` is left alone when `deadline` is
  // due as well: it fires at once either way, and a loop woken by a flood would otherwise
  // pay one timerfd_settime per batch of datagrams.
  void arm(Timestamp deadline, Timestamp now);
  void disarm() { arm(Timestamp::never()); }
  Timestamp deadline() const { return deadline_; }

 private:
  Timer(Handler handler) : handler_(std::move(handler)) {}
  void on_ready(Timestamp now);

  Handler handler_;
  UniqueFd fd_;
  std::unique_ptr<FdWatcher> watcher_;  // destroyed before fd_ (declared after it)
  Timestamp deadline_ = Timestamp::never();
};

}  // namespace curvecp
