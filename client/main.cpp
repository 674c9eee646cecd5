// The `curvecp` binary: one CLI11 app whose subcommands register themselves
// (daemon/command_registry.h). Here: --version on the app and on every subcommand, and
// command-line errors as one "curvecp SUBCOMMAND: ..." line naming that subcommand's
// --help, exit 100 (client/command_output.h).
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "client/command_output.h"
#include "crypto/init.h"
#include "daemon/command_registry.h"
#include "scheduler/cc_trace.h"

namespace {

// CURVECP_VERSION is project(VERSION) in CMakeLists.txt (client/CMakeLists.txt passes it);
// main() gives every subcommand the same --version.
constexpr const char* kVersion = "curvecp " CURVECP_VERSION;

// The deepest subcommand the parser had reached, "" for the app itself.
std::string failing_command(const CLI::App& app) {
  std::string name;
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) {
    at = at->get_subcommands().back();
    name += (name.empty() ? "" : " ") + at->get_name();
  }
  return name;
}

FILE* g_cc_trace = nullptr;

void write_cc_trace(const char* line) { std::fprintf(g_cc_trace, "%s\n", line); }

// CURVECP_CC_TRACE=FILE (a "%p" in it becomes the process id): the congestion
// controllers' decisions go there, one line each (scheduler/cc_trace.h, docs/NETLAB.md).
void open_cc_trace() {
  const char* path = std::getenv("CURVECP_CC_TRACE");
  if (path == nullptr || *path == '\0') return;
  std::string name = path;
  if (const size_t at = name.find("%p"); at != std::string::npos) name.replace(at, 2, std::to_string(getpid()));
  g_cc_trace = std::fopen(name.c_str(), "ae");
  if (g_cc_trace == nullptr) {
    std::fprintf(stderr, "curvecp: cannot open CURVECP_CC_TRACE file %s; no trace\n", name.c_str());
    return;
  }
  std::setvbuf(g_cc_trace, nullptr, _IOLBF, 0);
  curvecp::set_cc_trace_sink(write_cc_trace);
}

}  // namespace

// Free memory at the top of the heap is returned to the kernel only beyond this. glibc's
// default (128 KiB, raised only by mmap'd blocks) made a stream's buffer pages, freed
// whenever its program had read everything and allocated again by the next message,
// shrink and regrow the heap (brk) many times a second: page faults, zeroing and unmapping
// were about 15% of `curvecp serve`'s samples receiving 1 GiB (perf, busy host). Up to
// this much freed memory stays with the process instead. Setting it turns off glibc's
// dynamic mmap threshold, so that is fixed too: below it blocks come from the heap (a
// mmap'd 256 KiB push frame per read cost `curvecp receive` a page fault per 4 KiB).
constexpr int kHeapTrimThresholdBytes = 32 << 20;
constexpr int kMmapThresholdBytes = 4 << 20;

int main(int argc, char** argv) {
  using namespace curvecp;
  mallopt(M_TRIM_THRESHOLD, kHeapTrimThresholdBytes);
  mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  open_cc_trace();
  if (!crypto_initialize()) {
    std::fprintf(stderr, "curvecp: libsodium failed to initialise\n");
    return kExitTemporary;
  }
  CLI::App app{"curvecp: encrypted, authenticated CurveCP transport (serve, connect, keys)", "curvecp"};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  auto& registry = command_registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  int exit_code = 0;
  for (auto& spec : registry) spec.add(app, exit_code);
  for (CLI::App* sub : app.get_subcommands({})) sub->set_version_flag("--version", kVersion);

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
    const std::string command = failing_command(app);
    if (command.empty() && argc > 1 && argv[1][0] != '-') {
      std::fprintf(stderr, "curvecp: unknown command '%s'; see 'curvecp --help'\n", argv[1]);
    } else if (command.empty()) {
      std::fprintf(stderr, "curvecp: %s; see 'curvecp --help'\n", what.c_str());
    } else {
      print_usage_error(command, what);
    }
    return kExitUsage;
  }
  return exit_code;
}
