#include "daemon/command_registry.h"

#include <cstdio>

namespace curvecp {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

void print_error(const std::string& what) { std::fprintf(stderr, "curvecp: %s\n", what.c_str()); }

}  // namespace curvecp
