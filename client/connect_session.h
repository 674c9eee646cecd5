// One run of `curvecp connect`: a ClientConnection plus either a spawned program (fd 6
// reads from the server, fd 7 writes to it, fds 0/1/2 inherited, CURVECP.md 5.3) or, with
// no program, the process's own stdin/stdout (netcat mode, client/stdio_relay.h), joined
// to the stream by the daemon's Pump. Runs its own event loop until both directions are
// done or the connection fails, and returns the process exit status.
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
  // Extra environment for the program ("NAME=value"); the local address variables are
  // added once the socket is bound.
  std::vector<std::string> program_env;
  // After the program has exited and our EOF is acknowledged, how long to wait for the
  // server's EOF before giving up on it (the reference's Debian patch waits ~10 s, 6.9).
  Duration linger_after_exit = Duration::seconds(10);
};

// Exit status (command_registry.h): 0 when both directions closed cleanly; the program's
// status if it failed (111 if killed by a signal); 111 for network or temporary failures
// (Hello give-up, idle timeout, server ended with FAIL, write error on stdout, signals).
// Prints one "curvecp: ..." line on stderr for every failure that is ours.
int run_connect_session(ConnectOptions options, Rng& rng);

}  // namespace curvecp
