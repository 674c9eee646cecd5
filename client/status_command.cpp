// `curvecp status [--control PATH] [--json]`: the connections of a running `serve` or
// `connect`, asked over its control socket (daemon/control_protocol.h), as an aligned
// table or as {"connections": [...]} (curvecp-status(1)).
//
// Exit codes: 0 with the list printed; 100 usage; 111 when no daemon answers at the
// socket, or it answers with an error or something malformed (one line on stderr).
#include <cstdio>
#include <memory>
#include <string>

#include "daemon/command_registry.h"
#include "daemon/control_client.h"
#include "daemon/control_protocol.h"

namespace curvecp {
namespace {

// How long a daemon may take to answer (it answers within one loop iteration).
constexpr Duration kReplyTimeout = Duration::seconds(10);

struct StatusArgs {
  std::string control;
  bool json = false;
};

int run_status(const StatusArgs& args) {
  std::string path = args.control;
  if (path.empty()) {
    auto found = control_path_from_environment();
    if (!found) {
      print_error("status: " + found.error().message);
      return kExitTemporary;
    }
    path = *found;
  }
  auto reply = control_request(path, format_status_request(), kReplyTimeout);
  if (!reply) {
    print_error("status: " + reply.error().message);
    return kExitTemporary;
  }
  auto connections = parse_status_reply(*reply);
  if (!connections) {
    print_error("status: " + connections.error().message);
    return kExitTemporary;
  }
  const std::string out =
      args.json ? format_status_reply(*connections) + "\n" : format_status_table(*connections);
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    print_error("status: cannot write to standard output");
    return kExitTemporary;
  }
  return 0;
}

const CommandRegistration status_registration{"status", 30, [](CLI::App& app, int& exit_code) {
  auto args = std::make_shared<StatusArgs>();
  auto* cmd = app.add_subcommand("status", "List the connections of a running serve or connect");
  cmd->add_option("--control", args->control,
                  "Control socket (default: $CURVECPCONTROL, else the default of curvecp serve)");
  cmd->add_flag("--json", args->json, "Print {\"connections\": [...]} instead of a table");
  cmd->callback([args, &exit_code] { exit_code = run_status(*args); });
}};

}  // namespace
}  // namespace curvecp
