#include "daemon/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "daemon/log.h"
#include "daemon/process_group_reaper.h"
#include "daemon/spawner.h"
#include "daemon/unique_fd.h"

extern char** environ;

namespace curvecp {

namespace {

// posix_spawn's file actions and attributes, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  bool actions_ok = false;
  bool attr_ok = false;
  SpawnSetup() {
    actions_ok = posix_spawn_file_actions_init(&actions) == 0;
    attr_ok = posix_spawnattr_init(&attr) == 0;
  }
  ~SpawnSetup() {
    if (actions_ok) posix_spawn_file_actions_destroy(&actions);
    if (attr_ok) posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// The descriptor plan (see the header): each mapping goes first to a number above every
// descriptor involved (so mappings that swap numbers cannot clobber each other), then to
// its place; the temporaries are closed, and with close_other_fds every other number
// >= 3 too: one by one only below the highest mapped number (0..7 in practice), one
// close_range above it. The plan's size must not grow with our descriptor numbers: a
// close action per number below the temporaries cost a daemon holding 9 000 connections
// 9 000 closes and as many getrlimit calls (posix_spawn checks each action) per spawn.
int plan_descriptors(const SpawnOptions& options, posix_spawn_file_actions_t& a) {
  int top = 2;
  int top_mapped = 2;
  for (const auto& m : options.fds) {
    top = std::max({top, m.child_fd, m.parent_fd});
    top_mapped = std::max(top_mapped, m.child_fd);
  }
  const int temp_base = top + 1;
  int rc = 0;
  for (size_t i = 0; i < options.fds.size() && rc == 0; ++i) {
    rc = posix_spawn_file_actions_adddup2(&a, options.fds[i].parent_fd, temp_base + static_cast<int>(i));
  }
  // dup2 clears close-on-exec on the new number.
  for (size_t i = 0; i < options.fds.size() && rc == 0; ++i) {
    rc = posix_spawn_file_actions_adddup2(&a, temp_base + static_cast<int>(i), options.fds[i].child_fd);
  }
  if (rc != 0) return rc;
  if (!options.close_other_fds) {
    for (size_t i = 0; i < options.fds.size() && rc == 0; ++i) {
      rc = posix_spawn_file_actions_addclose(&a, temp_base + static_cast<int>(i));
    }
    return rc;
  }
  for (int fd = 3; fd <= top_mapped && rc == 0; ++fd) {
    const bool mapped = std::any_of(options.fds.begin(), options.fds.end(),
                                    [fd](const FdMapping& m) { return m.child_fd == fd; });
    if (!mapped) rc = posix_spawn_file_actions_addclose(&a, fd);
  }
  // close_range(top_mapped + 1, ~0) in the child: temporaries and everything inherited.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&a, top_mapped + 1);
  return rc;
}

// A new session and process group, default signal dispositions and an empty mask.
int plan_attributes(posix_spawnattr_t& attr) {
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  int rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  return rc;
}

std::string errno_text(const std::string& what, int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return what + ": " + text;
}

// posix_spawnp with the plan above; returns 0 and the pid, or an errno value. Touches only
// `options` and the process-wide state posix_spawn itself uses: safe on a helper thread.
int spawn_now(const SpawnOptions& options, pid_t& pid) {
  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> env;
  for (const auto& e : options.env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  SpawnSetup setup;
  if (!setup.actions_ok || !setup.attr_ok) return ENOMEM;
  int rc = plan_descriptors(options, setup.actions);
  if (rc == 0 && !options.cwd.empty()) rc = posix_spawn_file_actions_addchdir_np(&setup.actions, options.cwd.c_str());
  if (rc == 0) rc = plan_attributes(setup.attr);
  if (rc != 0) return rc;
  // posix_spawnp: glibc runs the child with CLONE_VM | CLONE_VFORK, so the cost does not
  // grow with our address space (fork would copy its page tables); an exec failure
  // (ENOENT, EACCES) comes back here as the return value, and nothing is left running.
  return ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), env.data());
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(EventLoop& loop, const SpawnOptions& options,
                                                          ExitHandler on_exit) {
  if (options.argv.empty()) return make_error("spawn: no program given");
  std::unique_ptr<ChildProcess> child(new ChildProcess(loop, std::move(on_exit)));
  child->stop_grace_ = options.stop_grace;
  if (Status watch = loop.process_groups().prepare_exit_watch(); !watch) return watch.error();
  if (options.asynchronous) {
    auto spawner = loop.process_groups().spawner();
    if (!spawner) return spawner.error();
    if ((*spawner)->in_progress() < Spawner::kMaxInProgress) return spawn_async(loop, options, std::move(child));
  }
  pid_t pid = -1;
  if (int rc = spawn_now(options, pid); rc != 0) return make_error(errno_text("spawn " + options.argv[0], rc));
  child->pid_ = pid;
  ChildProcess* self = child.get();
  loop.process_groups().watch_exit(pid, [self](int64_t code, int sig) { self->exited(code, sig); });
  return child;
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn_async(EventLoop& loop, const SpawnOptions& options,
                                                                std::unique_ptr<ChildProcess> child) {
  const std::string what = "spawn " + options.argv[0];
  auto spawner = loop.process_groups().spawner();
  if (!spawner) return spawner.error();
  // Our own copies of the mapped descriptors, closed on the helper thread after the spawn.
  SpawnOptions copy = options;
  auto held = std::make_shared<std::vector<UniqueFd>>();
  for (FdMapping& m : copy.fds) {
    const int d = ::fcntl(m.parent_fd, F_DUPFD_CLOEXEC, 3);
    if (d < 0) return make_error(errno_text(what, errno));
    held->emplace_back(d);
    m.parent_fd = d;
  }
  child->pid_ = 0;
  child->starting_ = std::make_shared<Starting>(Starting{child.get(), options.stop_grace, what});
  EventLoop* l = &loop;
  (*spawner)->submit(
      [copy = std::move(copy), held]() {
        pid_t pid = -1;
        const int rc = spawn_now(copy, pid);
        held->clear();
        return std::make_pair(rc == 0 ? pid : pid_t{-1}, rc);
      },
      [l, starting = child->starting_](pid_t pid, int error) { started(*l, *starting, pid, error); });
  return child;
}

void ChildProcess::started(EventLoop& loop, Starting& s, pid_t pid, int error) {
  ProcessGroupReaper& reaper = loop.process_groups();
  ChildProcess* self = s.owner;
  if (self == nullptr) {
    // The owner went while the spawn was in progress: stop the child as ~ChildProcess
    // would have, and let the reaper collect it.
    if (pid > 0) {
      reaper.watch_exit(pid, nullptr);
      reaper.terminate(pid, s.grace, loop.update_now());
      reaper.reap_if_exited(pid);
    }
    return;
  }
  self->starting_.reset();  // `s` lives on in the spawner's Done until it returns
  if (pid <= 0) {
    log_error(errno_text(s.what, error));
    self->pid_ = -1;
    self->exited(127, 0);
    return;
  }
  self->pid_ = pid;
  reaper.watch_exit(pid, [self](int64_t code, int sig) { self->exited(code, sig); });
  if (self->terminated_) reaper.terminate(pid, self->terminate_grace_, loop.update_now());
  // It may have exited before it was watched (its SIGCHLD found nobody to tell). Only
  // this pid is asked: waitid(P_ALL) walks every child (O(programs) per spawn).
  reaper.reap_if_exited(pid);
}

ChildProcess::~ChildProcess() {
  if (starting_) {
    // The spawn is still in progress: its Done stops the child once it exists.
    starting_->owner = nullptr;
    if (terminated_) starting_->grace = terminate_grace_;
    return;
  }
  if (pid_ <= 0 || !running()) return;
  // The child is still reaped by the loop when it exits (no zombie is left); nobody is
  // told any more.
  if (!terminated_) terminate(stop_grace_);
  loop_.process_groups().forget_exit(pid_);
}

void ChildProcess::exited(int64_t exit_status, int term_signal) {
  exit_ = ExitStatus{exit_status, term_signal};
  Timestamp now = loop_.update_now();
  if (on_exit_) on_exit_(*exit_, now);
}

std::optional<ExitStatus> ChildProcess::peek_exit() const {
  if (exit_) return exit_;
  if (pid_ <= 0) return std::nullopt;  // starting
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) {
    return std::nullopt;
  }
  if (info.si_code == CLD_EXITED) return ExitStatus{info.si_status, 0};
  return ExitStatus{0, info.si_status};
}

void ChildProcess::expect_exit() {
  if (pid_ > 0 && running()) loop_.process_groups().expect_exit(pid_);
}

bool ChildProcess::kill(int signum) {
  if (!running() || pid_ <= 0) return false;  // never kill(0): that is our own group
  return ::kill(pid_, signum) == 0;
}

void ChildProcess::terminate(Duration grace) {
  if (!terminated_ && starting_) {
    terminated_ = true;  // applied when the pid arrives (started())
    terminate_grace_ = grace;
    return;
  }
  if (terminated_ || pid_ <= 1) return;
  terminated_ = true;
  loop_.process_groups().terminate(pid_, grace, loop_.update_now());
}

Result<std::string> find_executable(const std::string& argv0) {
  const Error not_found = make_error("program not found or not executable: " + argv0);
  auto executable = [](const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
  };
  if (argv0.empty()) return not_found;
  if (argv0.find('/') != std::string::npos) {
    if (executable(argv0)) return argv0;
    return not_found;
  }
  const char* env_path = std::getenv("PATH");
  const std::string path = env_path != nullptr ? env_path : "/bin:/usr/bin";
  size_t start = 0;
  while (true) {
    size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string candidate = dir.empty() ? argv0 : dir + "/" + argv0;
    if (executable(candidate)) return dir.empty() ? "./" + argv0 : candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return not_found;
}

std::vector<std::string> environment_with(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = name_of(entry);
    bool replaced = std::any_of(overrides.begin(), overrides.end(),
                                [&](const std::string& o) { return name_of(o) == name; });
    if (!replaced) env.push_back(std::move(entry));
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

std::vector<std::string> clean_environment_with(const std::vector<std::string>& pass,
                                               const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  auto overridden = [&](const std::string& name) {
    return std::any_of(overrides.begin(), overrides.end(), [&](const std::string& o) { return name_of(o) == name; });
  };
  auto kept = [&](const std::string& name) {
    return name == "PATH" || name == "PROTO" || name.rfind("CURVECP", 0) == 0 ||
           std::find(pass.begin(), pass.end(), name) != pass.end();
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    const std::string name = name_of(entry);
    if (kept(name) && !overridden(name)) env.push_back(std::move(entry));
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

}  // namespace curvecp
