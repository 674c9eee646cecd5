// `curvecp receive DIR`: the server side of `curvecp push`, an ordinary UCSPI server
// program (the push arrives on fd 0, answers go out on fd 1), run by
// `curvecp serve ... -- curvecp receive DIR`. See man/curvecp-receive.1;
// client/receive_session.h does the work.
#include <fcntl.h>
#include <signal.h>

#include <cstring>
#include <memory>
#include <string>

#include "client/command_output.h"
#include "client/push_channel.h"
#include "client/receive_session.h"
#include "daemon/command_registry.h"
#include "daemon/unique_fd.h"

namespace curvecp {
namespace {

int run_receive(const std::string& dir_path) {
  UniqueFd dir(::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    print_command_error("receive", "" + dir_path + ": " + std::strerror(errno) + " (DIR must be an existing directory)");
    return kExitUsage;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a closed connection is a write error, not a silent death
  // The server's pipes are 64 KiB by default: 1 MiB means fewer wake-ups of the server
  // and of us per megabyte, as push does on its side (best effort; not a pipe: no-op).
  for (int fd : {0, 1}) (void)::fcntl(fd, F_SETPIPE_SZ, 1 << 20);
  push::FrameChannel channel(0, 1, [] { return Status{}; });
  return push::run_receive_session(channel, std::move(dir));
}

const CommandRegistration receive_registration{"receive", 41, [](CLI::App& app, int& exit_code) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "receive",
      "Receive a `curvecp push` into DIR: the server program of `curvecp serve ... -- curvecp receive DIR` "
      "(reads fd 0, writes fd 1)");
  cmd->add_option("DIR", *dir, "Existing directory the pushed files and trees are written into")->required();
  cmd->callback([dir, &exit_code] { exit_code = run_receive(*dir); });
}};

}  // namespace
}  // namespace curvecp
