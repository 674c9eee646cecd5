// `curvecp push [connect options] [--to SUBDIR] IP PORT PATH...`: sends files and trees
// to a server running `curvecp serve ... -- curvecp receive DIR`. See man/curvecp-push.1.
//
// The connection is `curvecp connect` itself, run as a child in netcat mode with our
// pipes for its stdin and stdout: the same client session code, and the same option
// parser, so every connect option (and any added later) works here unchanged. This file
// only splits the command line into connect's part and the PATHs (split_connect_args, the
// one place that knows connect's arguments), runs the child, and runs the sending half
// of the push protocol (client/push_sender.h) over the pipes.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client/command_output.h"
#include "client/push_channel.h"
#include "client/push_sender.h"
#include "client/push_tree.h"
#include "client/server_target.h"
#include "core/address.h"
#include "daemon/command_registry.h"
#include "daemon/unique_fd.h"

namespace curvecp {
namespace {

// Connect's target: HOST PORT, or one ALIAS of a servers file (curvecp-connect(1),
// curvecp-servers(5)); the positional arguments after it are the PATHs.
constexpr size_t kConnectTargetArgs = 2;
// How long connect may take to finish after our side of the conversation has ended (it
// waits for the server's end of stream, bounded by its own idle timeout otherwise).
constexpr std::chrono::seconds kChildEndLimit{30};
constexpr int kPipeBytes = 1 << 20;

struct PushArgs {
  std::string to;
  std::vector<std::string> connect_args;  // options and target, as connect takes them
  std::vector<std::string> paths;
};

volatile sig_atomic_t g_signal = 0;
volatile sig_atomic_t g_status_wanted = 0;
volatile pid_t g_child = -1;

void on_stop_signal(int signum) {
  g_signal = signum;
  if (g_child > 0) ::kill(g_child, signum);
}
void on_status_signal(int) { g_status_wanted = 1; }

// Which of the extra arguments are connect's options (with their values) and target,
// and which are PATHs, read from connect's own option definitions.
Status split_connect_args(const CLI::App& connect, const std::vector<std::string>& extras, PushArgs& out) {
  std::vector<std::string> positionals;
  bool options_done = false;
  for (size_t i = 0; i < extras.size(); ++i) {
    const std::string& arg = extras[i];
    const bool is_option = !options_done && arg.size() > 1 && arg[0] == '-';
    if (is_option && arg == "--") {
      options_done = true;
      continue;
    }
    if (is_option) {
      const std::string name = arg.substr(0, arg.find('='));
      const CLI::Option* opt = connect.get_option_no_throw(name);
      if (!opt) return make_error("unknown option " + name + " (push takes the options of connect, and --to)");
      out.connect_args.push_back(arg);
      if (opt->get_expected_min() > 0 && arg.find('=') == std::string::npos) {
        if (i + 1 >= extras.size()) return make_error(name + " needs a value");
        out.connect_args.push_back(extras[++i]);
      }
      continue;
    }
    positionals.push_back(arg);
  }
  // As connect decides (client/server_target.h): an IP literal is never an alias; any other
  // first word is one when a servers file names it.
  size_t target_words = kConnectTargetArgs;
  if (!positionals.empty() && !Address::parse(positionals[0], 0)) {
    auto alias = find_server_alias(positionals[0], servers_file_paths());
    if (!alias) return alias.error();
    if (alias->has_value()) target_words = 1;
  }
  for (size_t i = 0; i < positionals.size(); ++i) {
    (i < target_words ? out.connect_args : out.paths).push_back(positionals[i]);
  }
  if (out.paths.empty()) return make_error("give HOST PORT (or an ALIAS) and at least one PATH to push");
  return {};
}

struct Child {
  pid_t pid = -1;
  UniqueFd to_child;    // its stdin
  UniqueFd from_child;  // its stdout
};

Result<Child> start_connect(const std::vector<std::string>& connect_args) {
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return make_error(std::string("cannot find our own binary: ") + std::strerror(errno));
  self[n] = '\0';
  std::vector<std::string> argv_s{self, "connect"};
  argv_s.insert(argv_s.end(), connect_args.begin(), connect_args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return make_error(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return make_error(std::string("pipe: ") + std::strerror(errno));
  }
  // Larger pipes mean fewer wake-ups per megabyte on both sides (best effort).
  for (int fd : {in[1], out[0]}) (void)::fcntl(fd, F_SETPIPE_SZ, kPipeBytes);
  Child child;
  child.to_child.reset(in[1]);
  child.from_child.reset(out[0]);
  UniqueFd child_in(in[0]), child_out(out[1]);
  child.pid = ::fork();
  if (child.pid < 0) return make_error(std::string("fork: ") + std::strerror(errno));
  if (child.pid == 0) {
    // Our process group: whoever stops the group stops both. A terminal's ^C reaches
    // connect twice (directly and passed on by us); its second signal only skips waiting
    // for the server to acknowledge the FAIL it already sent.
    ::dup2(child_in.get(), 0);
    ::dup2(child_out.get(), 1);
    ::execv(self, argv.data());
    std::fprintf(stderr, "curvecp push: cannot run %s connect: %s\n", self, std::strerror(errno));
    ::_exit(kExitTemporary);
  }
  return child;
}

void install_signals() {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked read or write returns to look at the flags
  sa.sa_handler = on_stop_signal;
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &sa, nullptr);
  sa.sa_handler = on_status_signal;
  ::sigaction(SIGUSR1, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

// The child's exit status (128+N after signal N). It gets kChildEndLimit to end by itself
// once its input has ended, then SIGTERM.
int wait_child(pid_t pid) {
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + kChildEndLimit;
  bool signalled = false;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, signalled ? 0 : WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return kExitTemporary;
    if (r == 0 && std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGTERM);
      signalled = true;
    } else if (r == 0) {
      ::usleep(10000);
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

void print_summary(const push::SenderOutcome& out, const push::LocalTree& tree, const push::Progress& progress) {
  const double t = progress.elapsed_s();
  const double rate = t > 0 ? static_cast<double>(out.bytes_sent) / t : 0;
  char line[512];
  std::snprintf(line, sizeof line, "%zu entries, %llu files sent, %llu already there; %llu bytes sent in %.2f s (%s/s)%s",
                tree.entries.size(), static_cast<unsigned long long>(out.files_sent),
                static_cast<unsigned long long>(out.files_skipped), static_cast<unsigned long long>(out.bytes_sent), t,
                push::Progress::human_bytes(rate).c_str(), out.failures.empty() && out.completed ? "" : "; FAILED");
  print_command_error("push", line);
}

int run_push(const PushArgs& args) {
  install_signals();  // SIGUSR1's default would end us while a large tree is walked
  auto tree = push::collect_tree(args.paths);
  if (!tree) {
    print_command_error("push", "" + tree.error().message);
    return kExitUsage;
  }
  auto child = start_connect(args.connect_args);
  if (!child) {
    print_command_error("push", "" + child.error().message);
    return kExitTemporary;
  }
  g_child = child->pid;
  push::Progress progress(::isatty(2) == 1);
  auto poll = [&progress]() -> Status {
    if (g_signal != 0) return make_error("interrupted by signal " + std::to_string(g_signal) + " (" + strsignal(g_signal) + ")");
    if (g_status_wanted) {
      g_status_wanted = 0;
      progress.clear();
      print_command_error("push", "" + progress.status_line());
    }
    return {};
  };
  push::FrameChannel channel(child->from_child.get(), child->to_child.release(), poll);
  push::SenderOutcome out = push::run_push_sender(channel, *tree, args.to, progress, poll);
  progress.clear();
  Status tail = out.completed ? channel.expect_eof() : Status{};
  // Unfinished, the end of our input cannot look finished to the receiver: it has no
  // Done, fails, and its server tells connect with FAIL.
  channel.close_write();
  const int child_status = wait_child(child->pid);
  g_child = -1;

  for (const auto& s : tree->skipped) out.failures.push_back(s);
  for (const auto& f : out.failures) print_command_error("push", "failed: " + f);
  if (g_signal != 0) {
    print_summary(out, *tree, progress);
    print_command_error("push", std::string("interrupted by signal ") + std::to_string(g_signal) + " (" + strsignal(g_signal) + ")");
    return 128 + g_signal;
  }
  if (!out.completed) {
    if (child_status == kExitUsage) return kExitUsage;  // connect said which option is wrong
    print_command_error("push", "" + out.fatal);
    print_summary(out, *tree, progress);
    return kExitTemporary;
  }
  if (!tail || child_status != 0) {
    print_command_error("push", "the connection did not end cleanly" + (tail ? "" : ": " + tail.error().message));
    out.failures.push_back("connection");
  }
  print_summary(out, *tree, progress);
  return out.failures.empty() ? 0 : kExitTemporary;
}

const CommandRegistration push_registration{"push", 40, [](CLI::App& app, int& exit_code) {
  auto args = std::make_shared<PushArgs>();
  auto* cmd = app.add_subcommand(
      "push",
      "Send files and directory trees to a server running `curvecp serve ... -- curvecp receive DIR`. Usage: "
      "curvecp push [connect options] [--to SUBDIR] IP PORT PATH... (the options of connect: see curvecp connect "
      "--help)");
  cmd->add_option("--to", args->to, "Sub-directory of the receiver's DIR to push into (made if missing)");
  cmd->allow_extras();
  cmd->callback([args, cmd, &app, &exit_code] {
    const CLI::App* connect = app.get_subcommand("connect");
    if (Status s = split_connect_args(*connect, cmd->remaining(), *args); !s) {
      print_command_error("push", "" + s.error().message);
      exit_code = kExitUsage;
      return;
    }
    if (!args->to.empty()) {
      if (Status s = push::check_relative_path(args->to); !s) {
        print_command_error("push", "--to: " + s.error().message);
        exit_code = kExitUsage;
        return;
      }
    }
    exit_code = run_push(*args);
  });
}};

}  // namespace
}  // namespace curvecp
