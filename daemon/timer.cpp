#include "daemon/timer.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace curvecp {

Result<std::unique_ptr<Timer>> Timer::create(EventLoop& loop, Handler handler) {
  std::unique_ptr<Timer> t(new Timer(std::move(handler)));
  t->fd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!t->fd_.valid()) return make_error(errno_text("timerfd", errno));
  Timer* self = t.get();
  auto watcher = FdWatcher::create(loop, t->fd_.get(), [self](int, Timestamp now) { self->on_ready(now); });
  if (!watcher) return watcher.error();
  t->watcher_ = std::move(watcher.value());
  // Watched all the time (a disarmed timerfd never becomes readable), so re-arming costs
  // one timerfd_settime and no epoll_ctl; only an armed timer keeps the loop running.
  t->watcher_->set_events(FdWatcher::kReadable);
  t->watcher_->set_keeps_loop_alive(false);
  return t;
}

void Timer::arm(Timestamp deadline) {
  if (deadline == deadline_) return;
  deadline_ = deadline;
  itimerspec spec{};
  if (deadline != Timestamp::never()) {
    // An absolute time of 0 would disarm; a deadline in the past fires at once.
    int64_t ns = deadline.ns > 0 ? deadline.ns : 1;
    spec.it_value.tv_sec = ns / 1000000000;
    spec.it_value.tv_nsec = ns % 1000000000;
  }
  timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  watcher_->set_keeps_loop_alive(deadline != Timestamp::never());
}

void Timer::arm(Timestamp deadline, Timestamp now) {
  if (deadline <= now && deadline_ != Timestamp::never() && deadline_ <= now) return;
  arm(deadline);
}

void Timer::on_ready(Timestamp now) {
  uint64_t expirations = 0;
  // Re-arming resets the expiration count, so a stale readiness reads EAGAIN: ignore it.
  if (::read(fd_.get(), &expirations, sizeof expirations) != sizeof expirations) return;
  deadline_ = Timestamp::never();
  watcher_->set_keeps_loop_alive(false);
  handler_(now);
}

}  // namespace curvecp
