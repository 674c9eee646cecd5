// One run of `curvecp connect`: a ClientConnection plus an Attachment (daemon/attachment.h,
// shared with the server): either a spawned program (fd 6 reads from the server, fd 7
// writes to it, fds 0/1/2 inherited, CURVECP.md 5.3) or, with no program, the process's
// own stdin/stdout (netcat mode, client/stdio_relay.h). Runs its own event loop until the
// connection has ended and returns the process exit status. The lifecycle rules are the
// Connection's (daemon/connection.h), the same as the server's.
#pragma once

#include <string>
#include <vector>

#include "client/client_engine.h"
#include "core/rng.h"

namespace curvecp {

struct ConnectOptions {
  ClientEngineConfig engine;
  // Empty: netcat mode. Otherwise argv of the program (looked up in PATH).
  std::vector<std::string> program;
  // Extra environment for the program ("NAME=value"); the address variables are added
  // once the socket is bound.
  std::vector<std::string> program_env;
  // One line per handshake step and at the end, on stderr.
  bool verbose = false;
  // The control socket (daemon/control_server.h) to serve while connected; empty: none.
  // When `control_required`, failing to create it ends the run (111) before any packet;
  // otherwise (the default path) the run goes on without one (a line with -v).
  std::string control_path;
  bool control_required = false;
};

// Exit status (daemon/command_registry.h): 0 when both directions ended cleanly; the
// program's status if it failed (111 if killed by a signal); 128+N after signal N
// (SIGINT, SIGTERM, SIGHUP: the server is told with FAIL at once); 111 for network or
// temporary failures (refused, no answer, not accepted, idle timeout, the server's
// FAIL, a write error on stdout). Prints one "curvecp connect: ..." line on stderr for
// every failure that is ours.
int run_connect_session(ConnectOptions options, Rng& rng);

}  // namespace curvecp
