#include "daemon/process_group_reaper.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <utility>

#include "daemon/spawner.h"
#include "daemon/timer.h"
#include "daemon/uv_handle.h"

namespace curvecp {

bool process_group_exists(pid_t pgid) {
  // EPERM means a member exists that we may not signal: it is still there.
  return pgid > 1 && (::kill(-pgid, 0) == 0 || errno == EPERM);
}

ProcessGroupReaper::ProcessGroupReaper(EventLoop& loop) : loop_(loop) {}

ProcessGroupReaper::~ProcessGroupReaper() {
  spawner_.reset();  // spawns in progress end first; undelivered children are killed
  if (sigchld_ != nullptr) {
    sigchld_->data = nullptr;
    close_and_free(reinterpret_cast<uv_handle_t*>(sigchld_));
  }
  if (scan_timer_ != nullptr) {
    scan_timer_->data = nullptr;
    close_and_free(reinterpret_cast<uv_handle_t*>(scan_timer_));
  }
  kill_pending();
}

size_t ProcessGroupReaper::kill_pending() {
  size_t killed = 0;
  for (const Group& g : groups_) {
    if (!process_group_exists(g.pgid)) continue;
    ::kill(-g.pgid, SIGKILL);
    ++killed;
  }
  groups_.clear();
  if (timer_) timer_->disarm();
  return killed;
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

Status ProcessGroupReaper::prepare_exit_watch() {
  if (sigchld_ != nullptr) return {};
  auto* handle = new uv_signal_t{};
  if (int rc = uv_signal_init(loop_.raw(), handle); rc != 0) {
    delete handle;
    return make_error(uv_error_text("SIGCHLD watch", rc));
  }
  handle->data = this;
  if (int rc = uv_signal_start(handle, &ProcessGroupReaper::on_sigchld, SIGCHLD); rc != 0) {
    close_and_free(reinterpret_cast<uv_handle_t*>(handle));
    return make_error(uv_error_text("SIGCHLD watch", rc));
  }
  // Only watched children keep the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  sigchld_ = handle;
  return {};
}

void ProcessGroupReaper::watch_exit(pid_t pid, ExitCallback on_exit) {
  children_[pid] = std::move(on_exit);
  if (sigchld_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(sigchld_));
}

void ProcessGroupReaper::expect_exit(pid_t pid) {
  if (children_.count(pid) != 0) expected_.insert(pid);
}

void ProcessGroupReaper::forget_exit(pid_t pid) {
  auto it = children_.find(pid);
  if (it != children_.end()) it->second = nullptr;
}

void ProcessGroupReaper::on_sigchld(uv_signal_t* handle, int) {
  auto* self = static_cast<ProcessGroupReaper*>(handle->data);
  if (self != nullptr) self->reap_children();
}

void ProcessGroupReaper::reap_children() {
  std::vector<std::pair<ExitCallback, std::pair<int64_t, int>>> exited;
  // Hinted children first, by pid. Those that have not exited yet stay hinted.
  for (auto e = expected_.begin(); e != expected_.end();) {
    auto it = children_.find(*e);
    if (it == children_.end() || reap_one(it, exited)) {
      e = expected_.erase(e);
    } else {
      ++e;
    }
  }
  if (exited.empty()) {
    scan_children(exited);
  } else if (scan_timer_ == nullptr || !uv_is_active(reinterpret_cast<uv_handle_t*>(scan_timer_))) {
    // The signal may also stand for exits nobody hinted at: one full scan a little later
    // covers them and every other hinted exit until then.
    if (scan_timer_ == nullptr) {
      auto* handle = new uv_timer_t{};
      if (uv_timer_init(loop_.raw(), handle) != 0) {
        delete handle;  // never initialised
        scan_children(exited);
      } else {
        handle->data = this;
        scan_timer_ = handle;
      }
    }
    if (scan_timer_ != nullptr) uv_timer_start(scan_timer_, &ProcessGroupReaper::on_scan_timer, kScanDelayMs, 0);
  }
  if (children_.empty() && sigchld_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(sigchld_));
  // Callbacks last: they may spawn or forget children.
  for (auto& [cb, st] : exited) {
    if (cb) cb(st.first, st.second);
  }
}

void ProcessGroupReaper::on_scan_timer(uv_timer_t* handle) {
  auto* self = static_cast<ProcessGroupReaper*>(handle->data);
  if (self == nullptr) return;
  std::vector<std::pair<ExitCallback, std::pair<int64_t, int>>> exited;
  self->scan_children(exited);
  if (self->children_.empty() && self->sigchld_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(self->sigchld_));
  for (auto& [cb, st] : exited) {
    if (cb) cb(st.first, st.second);
  }
}

void ProcessGroupReaper::scan_children(std::vector<std::pair<ExitCallback, std::pair<int64_t, int>>>& exited) {
  // First the cheap way, O(exits) calls: waitid(WNOWAIT) names an exited child without
  // reaping it; ours are reaped by pid. A child that is not ours stops this (it is left
  // for its owner), and the loop below then asks each of ours, never waitpid(-1), so
  // other parts' children are left alone.
  bool foreign = false;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
    auto it = children_.find(info.si_pid);
    if (it == children_.end()) {
      foreign = true;
      break;
    }
    expected_.erase(info.si_pid);
    if (!reap_one(it, exited)) break;
  }
  if (foreign) {
    for (auto it = children_.begin(); it != children_.end();) {
      auto next = std::next(it);
      const pid_t pid = it->first;
      if (reap_one(it, exited)) expected_.erase(pid);
      it = next;
    }
  }
}

void ProcessGroupReaper::reap_if_exited(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  std::vector<std::pair<ExitCallback, std::pair<int64_t, int>>> exited;
  if (!reap_one(it, exited)) return;
  expected_.erase(pid);
  if (children_.empty() && sigchld_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(sigchld_));
  for (auto& [cb, st] : exited) {
    if (cb) cb(st.first, st.second);
  }
}

bool ProcessGroupReaper::reap_one(std::unordered_map<pid_t, ExitCallback>::iterator it,
                                  std::vector<std::pair<ExitCallback, std::pair<int64_t, int>>>& exited) {
  int status = 0;
  const pid_t r = ::waitpid(it->first, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return false;
  int64_t code = 0;
  int sig = 0;
  if (r > 0 && WIFSIGNALED(status)) {
    sig = WTERMSIG(status);
  } else if (r > 0) {
    code = WEXITSTATUS(status);
  }
  exited.emplace_back(std::move(it->second), std::make_pair(code, sig));
  children_.erase(it);
  return true;
}

Result<Spawner*> ProcessGroupReaper::spawner() {
  if (!spawner_) {
    auto s = Spawner::create(loop_);
    if (!s) return s.error();
    spawner_ = std::move(*s);
  }
  return spawner_.get();
}

void ProcessGroupReaper::finish() {
  // The armed timer keeps the loop alive, so UV_RUN_ONCE never blocks without a bound.
  while (!groups_.empty()) uv_run(loop_.raw(), UV_RUN_ONCE);
}

}  // namespace curvecp
