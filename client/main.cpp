// The `curvecp` binary: one CLI11 app whose subcommands register themselves
// (daemon/command_registry.h).
#include <algorithm>
#include <cstdio>

#include "crypto/init.h"
#include "daemon/command_registry.h"

int main(int argc, char** argv) {
  using namespace curvecp;
  if (!crypto_initialize()) {
    print_error("fatal: libsodium failed to initialise");
    return kExitTemporary;
  }
  CLI::App app{"curvecp: encrypted, authenticated CurveCP transport (serve, connect, keys)", "curvecp"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "curvecp 0.1.0");

  auto& registry = command_registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  int exit_code = 0;
  for (auto& spec : registry) spec.add(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    // serve's own form (curvecp-serve(1)): its prefix, and its help named.
    const auto subcommands = app.get_subcommands();
    if (!subcommands.empty() && subcommands.front()->get_name() == "serve") {
      std::fprintf(stderr, "curvecp serve: %s; see 'curvecp serve --help'\n", what.c_str());
      return kExitUsage;
    }
    print_error("usage: " + what + " (see curvecp --help)");
    return kExitUsage;
  }
  return exit_code;
}
