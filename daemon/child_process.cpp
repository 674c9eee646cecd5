#include "daemon/child_process.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "daemon/process_group_reaper.h"
#include "daemon/uv_handle.h"

extern char** environ;

namespace curvecp {

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(EventLoop& loop, const SpawnOptions& options,
                                                          ExitHandler on_exit) {
  if (options.argv.empty()) return make_error("spawn: no program given");
  std::unique_ptr<ChildProcess> child(new ChildProcess(loop, std::move(on_exit)));

  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> env;
  for (const auto& e : options.env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);

  int count = 3;
  for (const auto& m : options.fds) count = std::max(count, m.child_fd + 1);
  std::vector<uv_stdio_container_t> stdio(static_cast<size_t>(count));
  for (int fd = 0; fd < count; ++fd) {
    if (fd <= 2) {
      stdio[fd].flags = UV_INHERIT_FD;
      stdio[fd].data.fd = fd;
    } else {
      stdio[fd].flags = UV_IGNORE;  // libuv leaves unmapped fds >= 3 untouched
    }
  }
  for (const auto& m : options.fds) {
    stdio[m.child_fd].flags = UV_INHERIT_FD;
    stdio[m.child_fd].data.fd = m.parent_fd;
  }

  uv_process_options_t opts{};
  opts.file = argv[0];
  opts.args = argv.data();
  opts.env = env.data();
  opts.cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  opts.exit_cb = &ChildProcess::on_exit_cb;
  opts.stdio_count = count;
  opts.stdio = stdio.data();
  // setsid() in the child: it leads its own session and process group (see the header).
  opts.flags = UV_PROCESS_DETACHED;

  auto* handle = new uv_process_t{};
  handle->data = child.get();
  int rc = uv_spawn(loop.raw(), handle, &opts);
  if (rc != 0) {
    // libuv initialised the handle even on failure; it must be closed, not deleted.
    close_and_free(reinterpret_cast<uv_handle_t*>(handle));
    return make_error(uv_error_text(("spawn " + options.argv[0]).c_str(), rc));
  }
  child->handle_ = handle;
  child->pid_ = handle->pid;
  child->stop_grace_ = options.stop_grace;
  return child;
}

ChildProcess::~ChildProcess() {
  if (handle_ == nullptr) return;
  if (running()) {
    // Orphan the handle: the exit callback sees data == nullptr and closes it, so libuv
    // still reaps the child and no zombie is left.
    if (!terminated_) terminate(stop_grace_);
    handle_->data = nullptr;
  } else {
    close_and_free(reinterpret_cast<uv_handle_t*>(handle_));
  }
}

void ChildProcess::on_exit_cb(uv_process_t* handle, int64_t exit_status, int term_signal) {
  auto* self = static_cast<ChildProcess*>(handle->data);
  if (self == nullptr) {
    close_and_free(reinterpret_cast<uv_handle_t*>(handle));
    return;
  }
  self->exited(exit_status, term_signal);
}

void ChildProcess::exited(int64_t exit_status, int term_signal) {
  exit_ = ExitStatus{exit_status, term_signal};
  Timestamp now = loop_.update_now();
  if (on_exit_) on_exit_(*exit_, now);
}

std::optional<ExitStatus> ChildProcess::peek_exit() const {
  if (exit_) return exit_;
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) {
    return std::nullopt;
  }
  if (info.si_code == CLD_EXITED) return ExitStatus{info.si_status, 0};
  return ExitStatus{0, info.si_status};
}

bool ChildProcess::kill(int signum) {
  if (!running()) return false;
  return ::kill(pid_, signum) == 0;
}

void ChildProcess::terminate(Duration grace) {
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

}  // namespace curvecp
