#include "daemon/process_group_reaper.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>

#include "daemon/timer.h"

namespace curvecp {

bool process_group_exists(pid_t pgid) {
  // EPERM means a member exists that we may not signal: it is still there.
  return pgid > 1 && (::kill(-pgid, 0) == 0 || errno == EPERM);
}

ProcessGroupReaper::ProcessGroupReaper(EventLoop& loop) : loop_(loop) {}

ProcessGroupReaper::~ProcessGroupReaper() {
  for (const Group& g : groups_) {
    if (process_group_exists(g.pgid)) ::kill(-g.pgid, SIGKILL);
  }
}

void ProcessGroupReaper::terminate(pid_t pgid, Duration grace, Timestamp now) {
  if (pgid <= 1) return;  // never signal "every process" or init's group
  if (::kill(-pgid, SIGTERM) != 0 && errno == ESRCH) return;
  const Timestamp kill_at = now + grace;
  auto it = std::find_if(groups_.begin(), groups_.end(), [pgid](const Group& g) { return g.pgid == pgid; });
  if (it != groups_.end()) {
    it->kill_at = std::min(it->kill_at, kill_at);
  } else {
    groups_.push_back(Group{pgid, kill_at});
  }
  if (!timer_) {
    auto t = Timer::create(loop_, [this](Timestamp t_now) { on_timer(t_now); });
    if (!t) {
      // No timer, no escalation later: escalate now rather than never.
      ::kill(-pgid, SIGKILL);
      groups_.erase(std::remove_if(groups_.begin(), groups_.end(), [pgid](const Group& g) { return g.pgid == pgid; }),
                    groups_.end());
      return;
    }
    timer_ = std::move(t.value());
  }
  rearm(now);
}

void ProcessGroupReaper::on_timer(Timestamp now) {
  // Groups that have gone are forgotten; groups past their grace get SIGKILL and are
  // forgotten too (SIGKILL cannot be caught; zombies are the reaper's business, not ours).
  groups_.erase(std::remove_if(groups_.begin(), groups_.end(),
                               [now](const Group& g) {
                                 if (!process_group_exists(g.pgid)) return true;
                                 if (now < g.kill_at) return false;
                                 ::kill(-g.pgid, SIGKILL);
                                 return true;
                               }),
                groups_.end());
  rearm(now);
}

void ProcessGroupReaper::rearm(Timestamp now) {
  if (!timer_) return;
  if (groups_.empty()) {
    timer_->disarm();
    return;
  }
  Timestamp next = now + kPollInterval;
  for (const Group& g : groups_) next = earliest(next, g.kill_at);
  timer_->arm(next);
}

void ProcessGroupReaper::finish() {
  // The armed timer keeps the loop alive, so UV_RUN_ONCE never blocks without a bound.
  while (!groups_.empty()) uv_run(loop_.raw(), UV_RUN_ONCE);
}

}  // namespace curvecp
