// `curvecp ctl [--control PATH] [ID] --priority background|normal|N`: changes a running
// connection's priority class over the control socket (daemon/control_protocol.h,
// curvecp-ctl(1)). With no ID, the connection of the program it runs in
// ($CURVECPCONNID, set by serve and connect for their programs).
//
// Prints nothing on success: a server program's standard output is its connection.
// Exit codes: 0 done; 100 usage (bad class or ID, no ID and no $CURVECPCONNID); 111 no
// daemon at the socket, unknown connection, or any error the daemon reports.
#include <cstdlib>
#include <memory>
#include <string>

#include "daemon/command_registry.h"
#include "daemon/control_client.h"
#include "daemon/control_protocol.h"
#include "daemon/control_server.h"

namespace curvecp {
namespace {

constexpr Duration kReplyTimeout = Duration::seconds(10);

struct CtlArgs {
  std::string control;
  std::string id;
  std::string priority;
};

// The connection to change: ID as given, else $CURVECPCONNID; nothing after a usage line.
std::optional<uint64_t> connection_id(const CtlArgs& args) {
  if (!args.id.empty()) {
    auto id = parse_connection_id(args.id);
    if (!id) print_error("usage: ctl: bad connection ID '" + args.id + "' (expected a positive integer)");
    return id;
  }
  const char* env = std::getenv(kConnectionIdEnv);
  if (env == nullptr || env[0] == '\0') {
    print_error(std::string("usage: ctl: no connection ID given and ") + kConnectionIdEnv +
                " is not set (it is, for programs run by curvecp serve and connect)");
    return std::nullopt;
  }
  auto id = parse_connection_id(env);
  if (!id) print_error(std::string("usage: ctl: bad ") + kConnectionIdEnv + " '" + env + "'");
  return id;
}

int run_ctl(const CtlArgs& args) {
  auto priority = parse_priority(args.priority);
  if (!priority) {
    print_error("usage: ctl: bad --priority '" + args.priority +
                "' (expected background, normal or a number N with 1 <= N <= 100)");
    return kExitUsage;
  }
  auto id = connection_id(args);
  if (!id) return kExitUsage;
  std::string path = args.control;
  if (path.empty()) {
    auto found = control_path_from_environment();
    if (!found) {
      print_error("ctl: " + found.error().message);
      return kExitTemporary;
    }
    path = *found;
  }
  auto reply = control_request(path, format_priority_request(*id, *priority), kReplyTimeout);
  if (!reply) {
    print_error("ctl: " + reply.error().message);
    return kExitTemporary;
  }
  if (Status s = parse_priority_reply(*reply); !s) {
    print_error("ctl: " + s.error().message);
    return kExitTemporary;
  }
  return 0;
}

const CommandRegistration ctl_registration{"ctl", 31, [](CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CtlArgs>();
  auto* cmd = app.add_subcommand("ctl", "Change a running connection's priority class");
  cmd->add_option("--control", args->control,
                  "Control socket (default: $CURVECPCONTROL, else the default of curvecp serve)");
  cmd->add_option("--priority", args->priority, "New class: background, normal or a weight N (1..100)")->required();
  cmd->add_option("ID", args->id, "Connection id as curvecp status shows it (default: $CURVECPCONNID)");
  cmd->callback([args, &exit_code] { exit_code = run_ctl(*args); });
}};

}  // namespace
}  // namespace curvecp
