// `curvecp serve`: the CurveCP server (daemon/server.h) as a command, see curvecp-serve(1).
//
//   curvecp serve --key DIR --name NAME [--ext HEX] [--max-connections N]
//                 [--scheduler NAME] [--idle-timeout S] [--keepalive S] [--allow FILE]
//                 [--user USER] [--priority background|normal|N] [--control PATH|none]
//                 [-q|-v] [--no-timestamps]
//                 IP PORT [--] PROG [ARG...]
//   curvecp serve ... [--forward HOST:PORT [--connect-timeout S]] IP PORT
//                 (port forwarding: each connection joined to a new TCP connection)
//
// Exit codes: 0 after a shutdown by signal; 100 usage; 111 start-up failure (program not
// found or not executable, key, nonce files not writable, allow file, user, bind) or
// nonce-generation disaster. What can be checked before "listening" is checked then, so
// a supervisor sees a refusal at start rather than a server that fails its first client.
// Errors are one "curvecp serve: ..." line; usage errors end with a pointer to --help.
// Log lines (daemon/log.h): start-up ("listening on IP:PORT"), each connection's start
// and end, each refusal; -q keeps errors only, -v adds diagnostics.
// Signals: first SIGTERM/SIGINT drains (no new clients, running connections finish);
// the second fails every connection (programs stopped, FAIL to the clients) and exits
// within the abort timeout, once the stopped programs have exited or had their grace (a
// third signal kills them at once); SIGUSR1 prints counters (-v); SIGHUP reloads --allow FILE
// (a broken file keeps the old list) and is otherwise caught and ignored.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/bytes.h"
#include "crypto/init.h"
#include "crypto/keydir.h"
#include "crypto/server_name.h"
#include "crypto/sodium_rng.h"
#include "daemon/child_process.h"
#include "daemon/allow_list.h"
#include "daemon/command_registry.h"
#include "daemon/control_protocol.h"
#include "daemon/control_server.h"
#include "daemon/event_loop.h"
#include "daemon/log.h"
#include "daemon/privileges.h"
#include "daemon/process_group_reaper.h"
#include "daemon/sd_notify.h"
#include "daemon/server.h"
#include "daemon/signal_watcher.h"
#include "daemon/tcp_bridge.h"
#include "scheduler/congestion.h"

namespace curvecp {
namespace {

struct ServeArgs {
  std::string key_dir;
  std::string name;
  std::string ext_hex;
  uint32_t max_connections = 100;
  std::string scheduler = "chicago";
  double idle_timeout_s = 120;
  double keepalive_s = 15;
  bool verbose = false;
  bool quiet = false;
  bool no_timestamps = false;
  std::string allow_path;  // --allow: empty admits every client
  std::string user;        // --user: empty keeps our credentials
  uint64_t memory_budget_mib = 256;
  bool clean_env = false;
  std::vector<std::string> pass_env;
  bool keep_fds = false;
  bool program_socket = false;
  std::string priority = "normal";
  std::string control;  // empty: the default path; "none": no control socket
  // Fairness under attack (curvecp-serve(1)); 0 switches each off.
  uint32_t max_per_address = 32;
  uint32_t max_per_network = 128;
  uint32_t handshakes_per_wakeup = 16;
  uint32_t handshake_cpu_percent = 30;
  std::string forward;             // --forward HOST:PORT instead of PROG
  double forward_connect_timeout_s = 10;
};

// One usage line (exit 100 follows): no timestamp, it is for the person typing.
void usage_error(const std::string& what) {
  std::fprintf(stderr, "curvecp serve: %s; see 'curvecp serve --help'\n", what.c_str());
}

// 1000 connections need two pipes each: take whatever the hard limit allows.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// Each connection holds two pipe ends to its program (one socket with --program-socket);
// the socket, the loop and stdio a few more. False, after one line naming both figures,
// if the descriptor limit (already raised to the hard limit) cannot hold max_connections.
bool check_fd_limit(uint32_t max_connections, uint32_t per_connection) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return true;
  const uint64_t needed = uint64_t{per_connection} * max_connections + 64;
  if (lim.rlim_cur >= needed) return true;
  log_error("--max-connections " + std::to_string(max_connections) + " needs about " +
              std::to_string(needed) + " descriptors, but the limit is " + std::to_string(lim.rlim_cur) +
              " (hard limit " + std::to_string(lim.rlim_max) + "): raise it (ulimit -n) or lower --max-connections");
  return false;
}

// --- command line (each check prints one usage line and returns false: exit 100) ---
// The checks run in a fixed order, so a command line with several faults always gets the
// same message.

// rest = IP PORT [--] PROG [ARG...] (options must come before IP) into config.bind and
// config.program.
bool parse_positionals(const std::vector<std::string>& rest, ServerConfig& config, bool forwarding) {
  if (!rest.empty() && rest[0].size() > 1 && rest[0][0] == '-') {
    usage_error("unknown option " + rest[0]);
    return false;
  }
  if (forwarding && rest.size() != 2) {
    usage_error(rest.size() < 2 ? "expected IP PORT after the options"
                                : "--forward takes no program: expected only IP PORT after the options");
    return false;
  }
  if (!forwarding && rest.size() < 3) {
    usage_error("expected IP PORT [--] PROG [ARG...] after the options");
    return false;
  }
  // Port 0 asks the kernel for a free port (shown by -v): handy for tests.
  auto port = rest[1] == "0" ? std::optional<uint16_t>(0) : parse_port(rest[1]);
  if (!port) {
    usage_error("bad port: " + rest[1]);
    return false;
  }
  auto bind = Address::parse(rest[0], *port);
  if (!bind) {
    usage_error("bad IP address: " + rest[0]);
    return false;
  }
  config.bind = *bind;
  if (forwarding) return true;
  size_t first = rest[2] == "--" ? 3 : 2;
  if (first >= rest.size()) {
    usage_error("no program given");
    return false;
  }
  config.bind = *bind;
  config.program.assign(rest.begin() + static_cast<long>(first), rest.end());
  return true;
}

// --idle-timeout and --keepalive (seconds on the command line) into `connection`.
bool parse_timeouts(const ServeArgs& args, ConnectionConfig& connection) {
  if (!(args.idle_timeout_s > 0) || args.idle_timeout_s > 86400.0 * 365) {
    usage_error("--idle-timeout must be a positive number of seconds");
    return false;
  }
  connection.idle_timeout = Duration::nanoseconds(static_cast<int64_t>(args.idle_timeout_s * 1e9));
  if (!(args.keepalive_s >= 0) || args.keepalive_s > 86400.0 * 365) {
    usage_error("--keepalive must be between 0 (off) and one year");
    return false;
  }
  connection.keepalive = args.keepalive_s == 0 ? Duration::infinite()
                                               : Duration::nanoseconds(static_cast<int64_t>(args.keepalive_s * 1e9));
  return true;
}

// Whether make_controller knows `scheduler`; if not, says so with the known names.
bool check_scheduler(const std::string& scheduler) {
  SeededRng probe(1);
  if (make_controller(scheduler, probe, Timestamp{})) return true;
  // append, not an operator+ chain: gcc 12 -O3 warns falsely (-Wrestrict) on the chain.
  std::string message = "unknown --scheduler ";
  message.append(scheduler).append(" (known:");
  for (const auto& n : controller_names()) message.append(" ").append(n);
  message.append(")");
  usage_error(message);
  return false;
}

// --max-connections, --ext, --scheduler and --name into `endpoint` (after the timeouts).
bool parse_endpoint_options(const ServeArgs& args, ServerEndpointConfig& endpoint) {
  if (endpoint.max_connections < 1 || endpoint.max_connections > 65535) {
    usage_error("--max-connections must be 1..65535");
    return false;
  }
  if (!args.ext_hex.empty() && !parse_extension(args.ext_hex, endpoint.extension)) {
    usage_error("--ext must be 32 hex digits");
    return false;
  }
  if (!check_scheduler(args.scheduler)) return false;
  auto name = encode_server_name(args.name);
  if (!name) {
    usage_error("bad --name: " + name.error().message);
    return false;
  }
  endpoint.name = name.value();
  return true;
}

// --priority into `endpoint`.
bool parse_priority_option(const ServeArgs& args, ServerEndpointConfig& endpoint) {
  auto p = parse_priority(args.priority);
  if (!p) {
    usage_error("bad --priority '" + args.priority + "' (expected background, normal or a number N with 1 <= N <= 100)");
    return false;
  }
  endpoint.priority = *p;
  return true;
}

// --forward HOST:PORT (its form only: the host is resolved in run_serve) and
// --connect-timeout into `config`.
bool parse_forward(const ServeArgs& args, ServerConfig& config) {
  if (!parse_host_port(args.forward)) {
    usage_error("bad --forward '" + args.forward + "' (expected HOST:PORT or [IPV6]:PORT)");
    return false;
  }
  if (!(args.forward_connect_timeout_s > 0) || args.forward_connect_timeout_s > 3600) {
    usage_error("--connect-timeout must be a positive number of seconds, at most 3600");
    return false;
  }
  config.forward_connect_timeout = Duration::nanoseconds(static_cast<int64_t>(args.forward_connect_timeout_s * 1e9));
  return true;
}

// The whole command line as a ServerConfig, or nothing after one usage line.
std::optional<ServerConfig> parse_command_line(const ServeArgs& args, const std::vector<std::string>& rest) {
  ServerConfig config;
  // Checked here rather than by CLI11, so the message names this command's help.
  if (args.key_dir.empty() || args.name.empty()) {
    usage_error(args.key_dir.empty() ? "--key DIR is required" : "--name NAME is required");
    return std::nullopt;
  }
  if (args.quiet && args.verbose) {
    usage_error("-q and -v exclude each other");
    return std::nullopt;
  }
  if (!parse_positionals(rest, config, !args.forward.empty())) return std::nullopt;
  if (!args.forward.empty() && !parse_forward(args, config)) return std::nullopt;
  ServerEndpointConfig& endpoint = config.endpoint;
  endpoint.max_connections = args.max_connections;
  endpoint.scheduler = args.scheduler;
  config.clean_env = args.clean_env;
  config.pass_env = args.pass_env;
  config.keep_fds = args.keep_fds;
  config.program_socket = args.program_socket;
  if (args.memory_budget_mib > (1ull << 24)) {
    usage_error("--memory-budget must be 0 (none) .. 16777216 MiB");
    return std::nullopt;
  }
  endpoint.memory_budget_bytes = args.memory_budget_mib << 20;
  endpoint.max_per_address = args.max_per_address;
  endpoint.max_per_network = args.max_per_network;
  endpoint.handshakes_per_batch = args.handshakes_per_wakeup;
  endpoint.handshake_cpu_percent = args.handshake_cpu_percent;
  if (!parse_timeouts(args, endpoint.connection) || !parse_endpoint_options(args, endpoint)) return std::nullopt;
  if (!parse_priority_option(args, endpoint)) return std::nullopt;
  return config;
}

// --- start-up (each failure prints one line: exit 111) ---

struct ServerKeys {
  SecretKey secret;
  std::unique_ptr<KeyDirNonceSource> nonces;  // draws on `rng`, which must outlive it
};

// The long-term secret key and the nonce source of the key directory, or nothing after
// one line naming what failed.
std::optional<ServerKeys> load_server_keys(const std::string& key_dir, Rng& rng) {
  auto secret = load_secret_key(key_dir);
  if (!secret) {
    log_error(secret.error().message);
    return std::nullopt;
  }
  // A key directory whose nonce counter cannot be updated would let us say "listening"
  // and then fail on the first client's Hello: refuse now, naming the file.
  if (Status usable = check_nonce_files(key_dir); !usable) {
    log_error(usable.error().message);
    return std::nullopt;
  }
  auto nonces = KeyDirNonceSource::open(key_dir, /*long_term=*/true, rng);
  if (!nonces) {
    log_error(nonces.error().message);
    return std::nullopt;
  }
  // Another process holding the nonce lock is noticed now (after a bounded wait), not at
  // the first Hello; inside the event loop the lock is waited for briefly and Hellos go
  // unanswered meanwhile (crypto/keydir.h).
  if (Status lock = (*nonces)->probe_lock(2000); !lock) {
    log_error(lock.error().message);
    return std::nullopt;
  }
  (*nonces)->set_lock_wait_ms(100);
  return ServerKeys{std::move(secret.value()), std::move(nonces.value())};
}

// --- running ---

// SIGTERM/SIGINT number `request` (counted from 1 over both signals): the first drains,
// any later one fails every connection.
void on_stop_request(Server& s, int signum, int request) {
  if (request > 1) {
    // Past the drain. Every connection fails: programs are stopped, clients hear FAIL;
    // the drained handler stops the loop once they are gone.
    log_info(std::string(strsignal(signum)) + " again: aborting connections");
    s.abort_all();
    return;
  }
  log_info(std::string(strsignal(signum)) + ": finishing " + std::to_string(s.connection_count()) + " connection(s)");
  s.begin_drain();
}

// SIGHUP: reads --allow FILE again. A file that does not parse keeps the old list (one
// line says why); running connections are never touched.
void reload_allow_list(Server& s, const std::string& path) {
  if (path.empty()) {
    log_info("SIGHUP: nothing to reload, still serving");
    return;
  }
  auto list = AllowList::load(path);
  if (!list) {
    log_error("SIGHUP: keeping the old allow list: " + list.error().message);
    return;
  }
  const size_t keys = list->size();
  s.set_allow_list(std::make_shared<const AllowList>(std::move(list.value())));
  log_info("SIGHUP: reloaded " + path + " (" + std::to_string(keys) + " key(s))");
}

// Installs the signal handlers and runs the loop until the server has drained. Returns
// the exit code: 0, or 111 when the loop failed or nonces ran into a disaster.
int run_until_drained(EventLoop& l, Server& s, const std::string& allow_path) {
  // One count for both signals: SIGTERM then SIGINT is a second request.
  int stop_requests = 0;
  bool exiting = false;
  ProcessGroupReaper& programs = l.process_groups();
  auto on_stop = [&](int signum, Timestamp) {
    ++stop_requests;
    if (!exiting) {
      on_stop_request(s, signum, stop_requests);
      return;
    }
    // While programs being stopped get their grace at exit: one more signal ends the wait.
    const size_t killed = programs.kill_pending();
    log_info(std::string(strsignal(signum)) + " again: killing " + std::to_string(killed) + " program group(s)");
  };
  auto term = SignalWatcher::create(l, SIGTERM, on_stop);
  auto intr = SignalWatcher::create(l, SIGINT, on_stop);
  // SIGHUP is the daemon convention for "reload your configuration": the allow list.
  // Without one, a hang-up of the terminal that started the server must still not kill
  // it and every connection with it: it is caught and only noted.
  auto hup = SignalWatcher::create(l, SIGHUP, [&](int, Timestamp) { reload_allow_list(s, allow_path); });
  auto usr1 = SignalWatcher::create(l, SIGUSR1, [&](int, Timestamp now) {
    if (!log_enabled(LogLevel::verbose)) return;
    log_verbose(s.counters_line());
    std::string lines = s.connection_lines(now, 20);
    for (size_t start = 0, nl; start < lines.size(); start = nl + 1) {
      nl = lines.find('\n', start);
      if (nl == std::string::npos) nl = lines.size();
      log_verbose(std::string_view(lines).substr(start, nl - start));
    }
  });
  if (!term || !intr || !hup || !usr1) {
    log_error("cannot install signal handlers");
    return kExitTemporary;
  }
  int exit_code = 0;
  if (Status run = l.run(); !run) {
    log_error(run.error().message);
    exit_code = kExitTemporary;
  }
  // Programs that are being stopped (SIGTERM sent) get the rest of their grace to exit
  // before we do; the reaper's destructor would send SIGKILL at once. A further signal
  // cuts the wait short.
  if (programs.pending() > 0) {
    exiting = true;
    log_verbose("waiting for " + std::to_string(programs.pending()) + " stopped program group(s) to exit");
    programs.finish();
  }
  if (s.nonce_disaster()) exit_code = kExitTemporary;
  log_verbose(s.counters_line());
  return exit_code;
}

// The control socket (curvecp-serve(1), CONTROL SOCKET) served beside `s`, or nullptr.
// An explicit --control that cannot be served stops the start (false); the default path
// only warns (a second server on the host finds it taken) and the server runs without.
bool open_control(EventLoop& l, Server& s, const std::string& option, std::unique_ptr<ControlServer>& out) {
  if (option == "none") return true;
  const bool chosen = !option.empty();
  const std::string path = chosen ? option : default_serve_control_path();
  if (path.empty()) return true;  // not root and no XDG_RUNTIME_DIR: no default
  auto control = ControlServer::open(
      l, path, [&s](std::string_view line, Timestamp now) { return answer_control_request(line, s, now); });
  if (!control) {
    if (chosen) {
      log_error(control.error().message);
      return false;
    }
    log_error("warning: " + control.error().message + "; running without a control socket");
    return true;
  }
  out = std::move(*control);
  s.set_control_path(path);
  log_verbose("control socket " + path);
  return true;
}

// --user: gives up root now that the socket is bound and the key loaded, then checks that
// the key directory's nonce files are still writable (the cookie nonces need them).
bool become_user(const std::optional<UserIds>& user, const std::string& key_dir) {
  if (!user) return true;
  if (Status dropped = drop_privileges(*user); !dropped) {
    log_error("--user " + user->name + ": " + dropped.error().message);
    return false;
  }
  if (Status usable = check_nonce_files(key_dir); !usable) {
    log_error("--user " + user->name + ": " + usable.error().message + " (the key directory's .expertsonly files must be the user's)");
    return false;
  }
  return true;
}

// "READY=1" to systemd (Type=notify) once we listen; nothing without $NOTIFY_SOCKET.
void notify_ready(const std::optional<SdNotifier>& notifier, const Address& bound) {
  if (!notifier) return;
  if (Status sent = notifier->send("READY=1\nSTATUS=listening on " + bound.to_string()); !sent) {
    log_error(sent.error().message);
  }
}

// Creates the loop and the server (bound, then "listening on IP:PORT") and runs them.
// `nonces` and `rng` outlive both. Returns the exit code.
int serve(ServerConfig config, SecretKey secret, NonceSource& nonces, Rng& rng, const ServeArgs& args,
          const std::optional<UserIds>& user, const std::optional<SdNotifier>& notifier) {
  auto loop = EventLoop::create();
  if (!loop) {
    log_error(loop.error().message);
    return kExitTemporary;
  }
  EventLoop& l = *loop.value();
  // Declared after the loop, so the server is destroyed before it.
  auto server = Server::create(l, std::move(config), std::move(secret), nonces, rng);
  if (!server) {
    log_error(server.error().message);
    return kExitTemporary;
  }
  Server& s = *server.value();
  s.set_drained_handler([&l] { l.stop(); });
  std::unique_ptr<ControlServer> control;  // destroyed before the server it refers to
  if (!open_control(l, s, args.control, control)) return kExitTemporary;
  if (!become_user(user, args.key_dir)) return kExitTemporary;
  log_info("listening on " + s.local_address().to_string());
  notify_ready(notifier, s.local_address());
  const int exit_code = run_until_drained(l, s, args.allow_path);
  if (notifier) (void)notifier->send("STOPPING=1");
  return exit_code;
}

// --allow FILE at start-up: nullptr without the option; nothing after one line on error.
std::optional<std::shared_ptr<const AllowList>> load_allow_list(const std::string& path) {
  if (path.empty()) return std::shared_ptr<const AllowList>();
  auto list = AllowList::load(path);
  if (!list) {
    log_error("--allow: " + list.error().message);
    return std::nullopt;
  }
  log_verbose("allowing " + std::to_string(list->size()) + " client key(s) from " + path);
  return std::make_shared<const AllowList>(std::move(list.value()));
}

int run_serve(const ServeArgs& args, const std::vector<std::string>& rest) {
  log_configure("curvecp serve", args.quiet ? LogLevel::quiet : args.verbose ? LogLevel::verbose : LogLevel::normal,
                !args.no_timestamps);
  auto config = parse_command_line(args, rest);
  if (!config) return kExitUsage;
  // The program is looked up as execvp will (PATH, or as given with a '/'). 111, not
  // 100: the command line is well-formed, and the file may appear later (a package
  // being upgraded, a mount not yet up), so a supervisor should retry.
  if (!args.forward.empty()) {
    // Resolved once, at start-up (111 like a missing program: the name may come later).
    const HostPort target = *parse_host_port(args.forward);
    auto address = resolve_tcp_address(target.host, target.port);
    if (!address) {
      log_error("--forward: " + address.error().message);
      return kExitTemporary;
    }
    config->forward = *address;
    log_verbose("forwarding each connection to " + address->to_string());
  } else if (auto found = find_executable(config->program[0]); !found) {
    log_error(found.error().message);
    return kExitTemporary;
  }
  if (!crypto_initialize()) {
    log_error("libsodium failed to initialise");
    return kExitTemporary;
  }
  std::optional<UserIds> user;
  if (!args.user.empty()) {
    auto found_user = resolve_user(args.user);
    if (!found_user) {
      log_error("--user: " + found_user.error().message);
      return kExitTemporary;
    }
    user = found_user.value();
  }
  auto allow = load_allow_list(args.allow_path);
  if (!allow) return kExitTemporary;
  config->allow = std::move(*allow);
  auto notifier = SdNotifier::from_environment();
  if (!notifier) {
    log_error(notifier.error().message);
    return kExitTemporary;
  }
  raise_fd_limit();
  if (!check_fd_limit(config->endpoint.max_connections, config->program_socket ? 1 : 2)) return kExitTemporary;
  ignore_sigpipe();
  SodiumRng rng;
  auto keys = load_server_keys(args.key_dir, rng);
  if (!keys) return kExitTemporary;
  return serve(std::move(*config), std::move(keys->secret), *keys->nonces, rng, args, user, notifier.value());
}

const CommandRegistration serve_registration{"serve", 10, [](CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("serve", "Run a CurveCP server: PROG per connection, fd 0 from and fd 1 to the client");
  auto args = std::make_shared<ServeArgs>();
  cmd->add_option("--key", args->key_dir, "Server key directory (made by curvecp keygen or curvecpmakekey); required");
  cmd->add_option("--name", args->name, "Server name clients must use (DNS-style, case-sensitive); required");
  cmd->add_option("--ext", args->ext_hex, "Server extension, 32 hex digits (default: all zero)");
  cmd->add_option("--max-connections", args->max_connections, "Simultaneous connections, 1..65535")
      ->capture_default_str();
  std::string schedulers;
  for (const auto& n : controller_names()) schedulers.append(schedulers.empty() ? "" : ", ").append(n);
  cmd->add_option("--scheduler", args->scheduler, "Congestion controller for new connections (" + schedulers + ")")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", args->idle_timeout_s,
                  "Seconds a client may stay silent while the server waits for its answer (data, EOF or a "
                  "keepalive) before its connection fails")
      ->capture_default_str();
  cmd->add_option("--keepalive", args->keepalive_s,
                  "After this many quiet seconds (at most a third of --idle-timeout), send a keepalive the "
                  "client must acknowledge (0: off)")
      ->capture_default_str();
  cmd->add_option("--allow", args->allow_path,
                  "Admit only the client keys listed in FILE (64 hex digits a line, optional priority= and "
                  "label=); SIGHUP reloads it")
      ->type_name("FILE");
  cmd->add_option("--user", args->user, "After binding and loading the key, run as USER (needs root)")
      ->type_name("USER");
  cmd->add_flag("-v,--verbose", args->verbose, "Also log diagnostics; counters on exit and on SIGUSR1");
  cmd->add_flag("-q,--quiet", args->quiet, "Log errors only");
  cmd->add_flag("--no-timestamps", args->no_timestamps,
                "No time at the start of log lines (never added when stderr is the systemd journal)");
  cmd->add_option("--memory-budget", args->memory_budget_mib,
                  "MiB of stream buffers for all connections together; beyond it windows shrink (0: none)")
      ->capture_default_str();
  cmd->add_flag("--clean-env", args->clean_env,
                "Programs get only PATH, PROTO, CURVECP* and the --env names of our environment");
  cmd->add_option("--env", args->pass_env, "With --clean-env: also pass this variable (repeatable)")
      ->type_name("NAME")
      ->expected(1)
      ->allow_extra_args(false)
      ->take_all();
  cmd->add_flag("--keep-fds", args->keep_fds, "Let programs inherit our descriptors >= 3 (default: closed)");
  cmd->add_flag("--program-socket", args->program_socket,
                "Give each program one Unix socket on fds 0 and 1 (as tcpserver does) instead of two pipes: one "
                "descriptor per connection; the program ends its output with shutdown(1, SHUT_WR) or by exiting");
  cmd->add_option("--priority", args->priority,
                  "Class of new connections: background, normal or a weight N (1..100, as N normal flows)")
      ->capture_default_str();
  cmd->add_option("--control", args->control,
                  "Control socket for curvecp status and ctl (default: /run/curvecp/serve.sock for root, else "
                  "$XDG_RUNTIME_DIR/curvecp/serve.sock; none: no socket)");
  cmd->add_option("--max-per-address", args->max_per_address,
                  "Connections one client address may hold (loopback exempt; 0: no cap)")
      ->capture_default_str();
  cmd->add_option("--max-per-network", args->max_per_network,
                  "Connections one IPv4 /24 or IPv6 /56 may hold (loopback exempt; 0: no cap)")
      ->capture_default_str();
  cmd->add_option("--handshakes-per-wakeup", args->handshakes_per_wakeup,
                  "Hellos and new Initiates handled per batch of datagrams, after established "
                  "connections' packets (0: no budget)")
      ->capture_default_str();
  cmd->add_option("--handshake-cpu", args->handshake_cpu_percent,
                  "Percent of wall-clock time Hellos and new Initiates may take when they queue (0: no limit)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd->add_option("--forward", args->forward,
                  "Port forwarding: join each connection to a new TCP connection to HOST:PORT (no PROG)")
      ->type_name("HOST:PORT");
  cmd->add_option("--connect-timeout", args->forward_connect_timeout_s,
                  "With --forward: seconds a TCP connect may take before the connection fails")
      ->capture_default_str();
  // IP PORT [--] PROG [ARG...] are taken verbatim after the options, so PROG's own
  // options need no quoting.
  cmd->prefix_command();
  cmd->footer("Positional arguments (after all options): IP PORT [--] PROG [ARG...], or IP PORT with --forward");
  cmd->callback([cmd, args, &exit_code] { exit_code = run_serve(*args, cmd->remaining()); });
}};

}  // namespace
}  // namespace curvecp
