// Subcommands of the one `curvecp` binary. Each lives in its own *_command.cpp and
// registers itself with a static CommandRegistration; main() builds the CLI from them.
//
// Exit codes at the process edge (UCSPI convention, ARCHITECTURE.md): 0 success,
// 100 usage error, 111 temporary or network failure.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace curvecp {

inline constexpr int kExitUsage = 100;
inline constexpr int kExitTemporary = 111;

struct CommandSpec {
  std::string name;
  int order;  // position in --help
  // Adds the subcommand to `app`. Its callback runs the command and stores the process
  // exit status in `exit_code`.
  std::function<void(CLI::App& app, int& exit_code)> add;
};

std::vector<CommandSpec>& command_registry();

struct CommandRegistration {
  CommandRegistration(std::string name, int order, std::function<void(CLI::App&, int&)> add) {
    command_registry().push_back(CommandSpec{std::move(name), order, std::move(add)});
  }
};

// Prints "curvecp: <what>" as one line on stderr. Never pass secrets.
void print_error(const std::string& what);

}  // namespace curvecp
