// `curvecp serve`: the CurveCP server (daemon/server.h) as a command, see curvecp-serve(1).
//
//   curvecp serve --key DIR --name NAME [--ext HEX] [--max-connections N]
//                 [--scheduler NAME] [--idle-timeout S] [--keepalive S] [-v]
//                 IP PORT [--] PROG [ARG...]
//
// Exit codes: 0 after a shutdown by signal; 100 usage; 111 start-up failure (program not
// found or not executable, key, nonce files not writable, bind) or nonce-generation
// disaster. What can be checked before "listening" is checked then, so a supervisor sees
// a refusal at start rather than a server that fails its first client.
// Signals: first SIGTERM/SIGINT drains (no new clients, running connections finish);
// the second fails every connection (programs stopped, FAIL to the clients) and exits
// within the abort timeout; SIGUSR1 prints counters (-v); SIGHUP is caught and ignored.
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
#include "daemon/command_registry.h"
#include "daemon/event_loop.h"
#include "daemon/server.h"
#include "daemon/signal_watcher.h"
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
  // Fairness under attack (curvecp-serve(1)); 0 switches each off.
  uint32_t max_per_address = 32;
  uint32_t max_per_network = 128;
  uint32_t handshakes_per_wakeup = 16;
};

// 1000 connections need two pipes each: take whatever the hard limit allows.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// --- command line (each check prints one "usage: ..." line and returns false: exit 100) ---
// The checks run in a fixed order, so a command line with several faults always gets the
// same message.

// rest = IP PORT [--] PROG [ARG...] (options must come before IP) into config.bind and
// config.program.
bool parse_positionals(const std::vector<std::string>& rest, ServerConfig& config) {
  if (!rest.empty() && rest[0].size() > 1 && rest[0][0] == '-') {
    print_error("usage: serve: unknown option " + rest[0]);
    return false;
  }
  if (rest.size() < 3) {
    print_error("usage: curvecp serve --key DIR --name NAME [options] IP PORT [--] PROG [ARG...]");
    return false;
  }
  // Port 0 asks the kernel for a free port (shown by -v): handy for tests.
  auto port = rest[1] == "0" ? std::optional<uint16_t>(0) : parse_port(rest[1]);
  if (!port) {
    print_error("usage: serve: bad port: " + rest[1]);
    return false;
  }
  auto bind = Address::parse(rest[0], *port);
  if (!bind) {
    print_error("usage: serve: bad IP address: " + rest[0]);
    return false;
  }
  size_t first = rest[2] == "--" ? 3 : 2;
  if (first >= rest.size()) {
    print_error("usage: serve: no program given");
    return false;
  }
  config.bind = *bind;
  config.program.assign(rest.begin() + static_cast<long>(first), rest.end());
  return true;
}

// --idle-timeout and --keepalive (seconds on the command line) into `connection`.
bool parse_timeouts(const ServeArgs& args, ConnectionConfig& connection) {
  if (!(args.idle_timeout_s > 0) || args.idle_timeout_s > 86400.0 * 365) {
    print_error("usage: serve: --idle-timeout must be a positive number of seconds");
    return false;
  }
  connection.idle_timeout = Duration::nanoseconds(static_cast<int64_t>(args.idle_timeout_s * 1e9));
  if (!(args.keepalive_s >= 0) || args.keepalive_s > 86400.0 * 365) {
    print_error("usage: serve: --keepalive must be between 0 (off) and one year");
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
  std::string message = "usage: serve: unknown --scheduler ";
  message.append(scheduler).append(" (known:");
  for (const auto& n : controller_names()) message.append(" ").append(n);
  message.append(")");
  print_error(message);
  return false;
}

// --max-connections, --ext, --scheduler and --name into `endpoint` (after the timeouts).
bool parse_endpoint_options(const ServeArgs& args, ServerEndpointConfig& endpoint) {
  if (endpoint.max_connections < 1 || endpoint.max_connections > 65535) {
    print_error("usage: serve: --max-connections must be 1..65535");
    return false;
  }
  if (!args.ext_hex.empty() && !parse_extension(args.ext_hex, endpoint.extension)) {
    print_error("usage: serve: --ext must be 32 hex digits");
    return false;
  }
  if (!check_scheduler(args.scheduler)) return false;
  auto name = encode_server_name(args.name);
  if (!name) {
    print_error("usage: serve: bad --name: " + name.error().message);
    return false;
  }
  endpoint.name = name.value();
  return true;
}

// The whole command line as a ServerConfig, or nothing after one usage line.
std::optional<ServerConfig> parse_command_line(const ServeArgs& args, const std::vector<std::string>& rest) {
  ServerConfig config;
  if (!parse_positionals(rest, config)) return std::nullopt;
  ServerEndpointConfig& endpoint = config.endpoint;
  endpoint.max_connections = args.max_connections;
  endpoint.scheduler = args.scheduler;
  endpoint.max_per_address = args.max_per_address;
  endpoint.max_per_network = args.max_per_network;
  endpoint.handshakes_per_batch = args.handshakes_per_wakeup;
  config.verbose = args.verbose;
  if (!parse_timeouts(args, endpoint.connection) || !parse_endpoint_options(args, endpoint)) return std::nullopt;
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
    print_error("fatal: " + secret.error().message);
    return std::nullopt;
  }
  // A key directory whose nonce counter cannot be updated would let us say "listening"
  // and then fail on the first client's Hello: refuse now, naming the file.
  if (Status usable = check_nonce_files(key_dir); !usable) {
    print_error("serve: " + usable.error().message);
    return std::nullopt;
  }
  auto nonces = KeyDirNonceSource::open(key_dir, /*long_term=*/true, rng);
  if (!nonces) {
    print_error("fatal: " + nonces.error().message);
    return std::nullopt;
  }
  // Another process holding the nonce lock is noticed now (after a bounded wait), not at
  // the first Hello; inside the event loop the lock is waited for briefly and Hellos go
  // unanswered meanwhile (crypto/keydir.h).
  if (Status lock = (*nonces)->probe_lock(2000); !lock) {
    print_error("fatal: " + lock.error().message);
    return std::nullopt;
  }
  (*nonces)->set_lock_wait_ms(100);
  return ServerKeys{std::move(secret.value()), std::move(nonces.value())};
}

// --- running ---

// SIGTERM/SIGINT number `request` (counted from 1 over both signals): the first drains,
// any later one fails every connection.
void on_stop_request(Server& s, int signum, int request, bool verbose) {
  if (request > 1) {
    // Past the drain. Every connection fails: programs are stopped, clients hear FAIL;
    // the drained handler stops the loop once they are gone.
    if (verbose) std::fprintf(stderr, "curvecp serve: %s again: aborting connections\n", strsignal(signum));
    s.abort_all();
    return;
  }
  if (verbose) {
    std::fprintf(stderr, "curvecp serve: %s: finishing %zu connection(s)\n", strsignal(signum), s.connection_count());
  }
  s.begin_drain();
}

// Installs the signal handlers and runs the loop until the server has drained. Returns
// the exit code: 0, or 111 when the loop failed or nonces ran into a disaster.
int run_until_drained(EventLoop& l, Server& s, bool verbose) {
  // One count for both signals: SIGTERM then SIGINT is a second request.
  int stop_requests = 0;
  auto on_stop = [&](int signum, Timestamp) { on_stop_request(s, signum, ++stop_requests, verbose); };
  auto term = SignalWatcher::create(l, SIGTERM, on_stop);
  auto intr = SignalWatcher::create(l, SIGINT, on_stop);
  // SIGHUP is the daemon convention for "reload your configuration". There is nothing to
  // reload yet, but a hang-up of the terminal that started the server must not kill it and
  // every connection with it: it is caught and only noted.
  auto hup = SignalWatcher::create(l, SIGHUP, [&](int, Timestamp) {
    if (verbose) std::fprintf(stderr, "curvecp serve: SIGHUP: nothing to reload, still serving\n");
  });
  auto usr1 = SignalWatcher::create(l, SIGUSR1, [&](int, Timestamp now) {
    if (!verbose) return;
    std::fprintf(stderr, "%s\n%s", s.counters_line().c_str(), s.connection_lines(now, 20).c_str());
  });
  if (!term || !intr || !hup || !usr1) {
    print_error("fatal: cannot install signal handlers");
    return kExitTemporary;
  }
  int exit_code = 0;
  if (Status run = l.run(); !run) {
    print_error("fatal: " + run.error().message);
    exit_code = kExitTemporary;
  }
  if (s.nonce_disaster()) exit_code = kExitTemporary;
  if (verbose) std::fprintf(stderr, "%s\n", s.counters_line().c_str());
  return exit_code;
}

// Creates the loop and the server (bound, "listening" with -v) and runs them. `nonces`
// and `rng` outlive both. Returns the exit code.
int serve(ServerConfig config, SecretKey secret, NonceSource& nonces, Rng& rng, bool verbose) {
  auto loop = EventLoop::create();
  if (!loop) {
    print_error("fatal: " + loop.error().message);
    return kExitTemporary;
  }
  EventLoop& l = *loop.value();
  // Declared after the loop, so the server is destroyed before it.
  auto server = Server::create(l, std::move(config), std::move(secret), nonces, rng);
  if (!server) {
    print_error("fatal: " + server.error().message);
    return kExitTemporary;
  }
  Server& s = *server.value();
  s.set_drained_handler([&l] { l.stop(); });
  if (verbose) std::fprintf(stderr, "curvecp serve: listening on %s\n", s.local_address().to_string().c_str());
  return run_until_drained(l, s, verbose);
}

int run_serve(const ServeArgs& args, const std::vector<std::string>& rest) {
  auto config = parse_command_line(args, rest);
  if (!config) return kExitUsage;
  // The program is looked up as execvp will (PATH, or as given with a '/'). 111, not
  // 100: the command line is well-formed, and the file may appear later (a package
  // being upgraded, a mount not yet up), so a supervisor should retry.
  if (auto found = find_executable(config->program[0]); !found) {
    print_error("serve: " + found.error().message);
    return kExitTemporary;
  }
  if (!crypto_initialize()) {
    print_error("fatal: libsodium failed to initialise");
    return kExitTemporary;
  }
  raise_fd_limit();
  ignore_sigpipe();
  SodiumRng rng;
  auto keys = load_server_keys(args.key_dir, rng);
  if (!keys) return kExitTemporary;
  return serve(std::move(*config), std::move(keys->secret), *keys->nonces, rng, args.verbose);
}

const CommandRegistration serve_registration{"serve", 10, [](CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("serve", "Run a CurveCP server: PROG per connection, fd 0 from and fd 1 to the client");
  auto args = std::make_shared<ServeArgs>();
  cmd->add_option("--key", args->key_dir, "Server key directory (made by curvecp keygen or curvecpmakekey)")
      ->required();
  cmd->add_option("--name", args->name, "Server name clients must use (DNS-style, case-sensitive)")->required();
  cmd->add_option("--ext", args->ext_hex, "Server extension, 32 hex digits (default: all zero)");
  cmd->add_option("--max-connections", args->max_connections, "Simultaneous connections, 1..65535")
      ->capture_default_str();
  cmd->add_option("--scheduler", args->scheduler, "Congestion controller for new connections")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", args->idle_timeout_s,
                  "Seconds a client may stay silent while the server waits for its answer (data, EOF or a "
                  "keepalive) before its connection fails")
      ->capture_default_str();
  cmd->add_option("--keepalive", args->keepalive_s,
                  "After this many quiet seconds (at most a third of --idle-timeout), send a keepalive the "
                  "client must acknowledge (0: off)")
      ->capture_default_str();
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
  cmd->add_flag("-v,--verbose", args->verbose, "Log connections and print counters on exit and on SIGUSR1");
  // IP PORT [--] PROG [ARG...] are taken verbatim after the options, so PROG's own
  // options need no quoting.
  cmd->prefix_command();
  cmd->footer("Positional arguments (after all options): IP PORT [--] PROG [ARG...]");
  cmd->callback([cmd, args, &exit_code] { exit_code = run_serve(*args, cmd->remaining()); });
}};

}  // namespace
}  // namespace curvecp
