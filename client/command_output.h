// One style for what the client commands print on stderr: "curvecp COMMAND: MESSAGE",
// one line per message (e.g. "curvecp connect: no answer from ..."). Usage errors (exit
// 100) end by naming the command's help: "...; see 'curvecp connect --help'" (the form
// serve uses too).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace curvecp {

// Prints "curvecp COMMAND: what" as one line on stderr. Never pass secrets.
inline void print_command_error(std::string_view command, const std::string& what) {
  std::fprintf(stderr, "curvecp %.*s: %s\n", static_cast<int>(command.size()), command.data(), what.c_str());
}

// Prints "curvecp COMMAND: what; see 'curvecp COMMAND --help'".
inline void print_usage_error(std::string_view command, const std::string& what) {
  print_command_error(command, what + "; see 'curvecp " + std::string(command) + " --help'");
}

}  // namespace curvecp
