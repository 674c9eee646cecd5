// `curvecp connect [--name NAME] [--server-key HEX] [--ext HEX] [--key DIR] [--scheduler NAME]
//  [--timeout S] [--idle-timeout S] [--keepalive S] [--priority CLASS] [--control PATH|none]
//  [-q|-v] (HOST PORT | ALIAS) [--] [PROG [ARG...]]`
// `curvecp connect [options] --listen IP:PORT [--max-forwards N] (HOST PORT | ALIAS)`:
//  port forwarding, each accepted TCP client over its own connection
//  (client/forward_listen.h).
//
// The client end of a CurveCP connection (CURVECP.md 4), IPv4 or IPv6. HOST is an IP
// literal or a name (every address tried in turn); ALIAS names a line of a servers file
// that gives host, port, name, key and extension (client/server_target.h,
// man/curvecp-servers.5); options override the file's values. With PROG, the
// program reads the server's stream on fd 6 and writes to it on fd 7, like a program
// under curvecpclient + curvecpmessage -c (5.3). Without PROG, stdin goes to the server
// and the server's stream to stdout (netcat mode). See man/curvecp-connect.1.
//
// This file only turns the command line into ConnectOptions; usage errors exit 100
// before anything touches the network (a host name is resolved after every check). client/connect_session.h runs the connection.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/command_output.h"
#include "client/connect_session.h"
#include "client/forward_listen.h"
#include "client/server_target.h"
#include "core/address.h"
#include "core/bytes.h"
#include "crypto/init.h"
#include "crypto/keydir.h"
#include "crypto/keys.h"
#include "crypto/server_name.h"
#include "crypto/sodium_rng.h"
#include "daemon/child_process.h"
#include "daemon/command_registry.h"
#include "daemon/control_server.h"
#include "daemon/log.h"
#include "daemon/tcp_bridge.h"
#include "scheduler/congestion.h"
#include "scheduler/priority.h"

namespace curvecp {
namespace {

struct ConnectArgs {
  std::string name;
  std::string server_key_hex;
  std::string ext_hex;
  std::string key_dir;
  std::string scheduler = "chicago";
  double timeout_s = 15;
  double idle_timeout_s = 60;
  double keepalive_s = 15;
  bool verbose = false;
  bool quiet = false;
  // (HOST PORT | ALIAS) [--] [PROG [ARG...]], verbatim after the options.
  std::vector<std::string> rest;
  std::string priority = "normal";
  std::string control;  // empty: the default path; "none": no control socket
  std::string listen;   // --listen IP:PORT: port forwarding instead of PROG or stdio
  uint32_t max_forwards = 64;
};

int usage_error(const std::string& what) {
  print_usage_error("connect", what);
  return kExitUsage;
}

int failure(const std::string& what) {
  print_command_error("connect", what);
  return kExitTemporary;
}

// The program's argv: what follows the target, after an optional "--". A word starting
// with '-' right after the target is a misplaced option, not a program.
std::optional<std::vector<std::string>> program_words(const std::vector<std::string>& rest, size_t first) {
  if (first < rest.size() && rest[first] == "--") return std::vector<std::string>(rest.begin() + first + 1, rest.end());
  if (first < rest.size() && rest[first].size() > 1 && rest[first][0] == '-') return std::nullopt;
  return std::vector<std::string>(rest.begin() + static_cast<long>(std::min(first, rest.size())), rest.end());
}

// Seconds from the command line: 0 means `zero` (off or never), anything else must be
// positive and at most a year.
std::optional<Duration> parse_seconds(double s, Duration zero) {
  if (!(s >= 0) || s > 86400.0 * 365) return std::nullopt;
  if (s == 0) return zero;
  return Duration::nanoseconds(static_cast<int64_t>(s * 1e9));
}

// --listen IP:PORT (an IP literal; port 0 lets the kernel choose) and --max-forwards.
// Nothing after one usage line.
std::optional<Address> parse_listen(const ConnectArgs& args) {
  const size_t colon = args.listen.rfind(':');
  const std::string port_text = colon == std::string::npos ? "" : args.listen.substr(colon + 1);
  auto hp = parse_host_port(port_text == "0" ? args.listen.substr(0, colon) + ":1" : args.listen);
  auto address = hp ? Address::parse(hp->host, port_text == "0" ? 0 : hp->port) : std::nullopt;
  if (!address) {
    usage_error("bad --listen '" + args.listen + "' (expected IP:PORT or [IPV6]:PORT)");
    return std::nullopt;
  }
  if (args.max_forwards < 1 || args.max_forwards > 65535) {
    usage_error("--max-forwards must be 1..65535");
    return std::nullopt;
  }
  return address;
}

// connect --listen: the options already made for one connection, as the template of
// every forwarded one.
int run_forwarding(const ConnectArgs& args, ConnectOptions options, const Address& listen,
                   std::shared_ptr<KeyDirNonceSource> nonce_source, Rng& rng) {
  ListenOptions l;
  l.engine = std::move(options.engine);
  l.listen = listen;
  l.max_forwards = args.max_forwards;
  l.verbose = options.verbose;
  l.control_path = options.control_path;
  l.control_required = options.control_required;
  l.vouch_nonce = [nonce_source, &rng]() -> Result<Nonce16> {
    if (nonce_source) return nonce_source->next_nonce16();
    Nonce16 n;
    rng.fill(n);
    return n;
  };
  return run_listen_session(std::move(l), rng);
}

int run_connect(const ConnectArgs& args) {
  ConnectOptions options;
  ClientEngineConfig& engine = options.engine;
  ClientConfig& crypto = engine.crypto;

  // Everything the user typed is checked before any key is loaded or packet sent.
  if (!args.rest.empty() && args.rest[0].size() > 1 && args.rest[0][0] == '-' && args.rest[0] != "--") {
    return usage_error("unknown option " + args.rest[0]);
  }
  ServerTarget given;
  given.name = args.name;
  given.key_hex = args.server_key_hex;
  given.ext_hex = args.ext_hex;
  // Checked before the target: the target may need a name resolved (DNS).
  const auto names = controller_names();
  if (std::find(names.begin(), names.end(), args.scheduler) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    return usage_error("unknown --scheduler '" + args.scheduler + "' (known: " + known + ")");
  }
  engine.stream.controller = args.scheduler;
  auto priority = parse_priority(args.priority);
  if (!priority) {
    return usage_error("bad --priority '" + args.priority +
                       "' (expected background, normal or a number N with 1 <= N <= 100)");
  }
  engine.stream.priority = *priority;
  if (args.control != "none") {
    options.control_required = !args.control.empty();
    options.control_path = options.control_required ? args.control : default_connect_control_path();
    if (!options.control_required && !options.control_path.empty()) {
      remove_stale_connect_sockets(options.control_path.substr(0, options.control_path.rfind('/')));
    }
  }
  auto idle = parse_seconds(args.idle_timeout_s, Duration::infinite());
  if (!idle) return usage_error("--idle-timeout must be between 0 (off) and one year");
  engine.connection.idle_timeout = *idle;
  auto keepalive = parse_seconds(args.keepalive_s, Duration::infinite());
  if (!keepalive) return usage_error("--keepalive must be between 0 (off) and one year");
  engine.connection.keepalive = *keepalive;
  auto timeout = parse_seconds(args.timeout_s, Duration{0});
  if (!timeout || timeout->ns == 0) return usage_error("--timeout must be a positive number of seconds");
  engine.handshake_timeout = *timeout;
  if (args.quiet && args.verbose) return usage_error("-q and -v exclude each other");
  // The log module shared with serve (daemon/log.h): no timestamps for an interactive tool.
  log_configure("curvecp connect", args.quiet ? LogLevel::quiet : args.verbose ? LogLevel::verbose : LogLevel::normal,
                false);
  auto target = resolve_target(args.rest, given, servers_file_paths());
  if (auto* error = std::get_if<TargetError>(&target)) {
    return error->kind == TargetError::Kind::usage ? usage_error(error->message) : failure(error->message);
  }
  const TargetResult& resolved = std::get<TargetResult>(target);
  auto program = program_words(args.rest, resolved.words_used);
  if (!program) {
    return usage_error("options go before the server: '" + args.rest[resolved.words_used] +
                       "' (put -- before a program whose name starts with '-')");
  }
  std::optional<Address> listen;
  if (!args.listen.empty()) {
    if (!program->empty()) return usage_error("--listen takes no program: '" + (*program)[0] + "'");
    listen = parse_listen(args);
    if (!listen) return kExitUsage;
  }
  crypto.server_long_term = resolved.target.key;
  crypto.server_extension = resolved.target.ext;
  crypto.server_name = resolved.target.name;
  engine.server = resolved.target.addresses.front();
  engine.more_servers.assign(resolved.target.addresses.begin() + 1, resolved.target.addresses.end());
  options.verbose = args.verbose;
  options.program = *program;
  // Checked before any packet leaves: a program that cannot run would otherwise only
  // fail after the handshake, with the server already running its side.
  if (!options.program.empty()) {
    if (auto found = find_executable(options.program[0]); !found) {
      return failure(found.error().message);
    }
  }

  if (!crypto_initialize()) {
    return failure("libsodium failed to initialise");
  }
  SodiumRng rng;
  std::shared_ptr<KeyDirNonceSource> nonce_source;  // --key DIR: vouch nonces (forwarding draws more)

  // Long-term identity (CURVECP.md 1.3): the key directory's keys and a safenonce vouch
  // nonce, or an anonymous key pair that lives only in memory for this run.
  if (args.key_dir.empty()) {
    KeyPair pair = KeyPair::generate(rng);
    crypto.client_long_term_pk = pair.pk;
    crypto.client_long_term_sk = std::move(pair.sk);
    rng.fill(crypto.vouch_nonce);
  } else {
    auto pk = load_public_key(args.key_dir);
    if (!pk) {
      return failure(pk.error().message);
    }
    auto sk = load_secret_key(args.key_dir);
    if (!sk) {
      return failure(sk.error().message);
    }
    auto nonces = KeyDirNonceSource::open(args.key_dir, /*long_term=*/false, rng);
    if (!nonces) {
      return failure(nonces.error().message);
    }
    nonce_source = std::move(*nonces);
    auto vouch_nonce = nonce_source->next_nonce16();
    if (!vouch_nonce) {
      return failure("nonce-generation disaster: " + vouch_nonce.error().message);
    }
    crypto.client_long_term_pk = *pk;
    crypto.client_long_term_sk = std::move(*sk);
    crypto.vouch_nonce = *vouch_nonce;
  }

  // The same variables the server gives its programs (the reference sets none, 5.4).
  if (listen) return run_forwarding(args, std::move(options), *listen, nonce_source, rng);
  options.program_env = {"PROTO=CURVECP", "CURVECPREMOTEPK=" + encode_hex(crypto.server_long_term.bytes),
                         "CURVECPREMOTEEXT=" + encode_hex(crypto.server_extension)};
  return run_connect_session(std::move(options), rng);
}

const CommandRegistration connect_registration{"connect", 20, [](CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ConnectArgs>();
  auto* cmd = app.add_subcommand(
      "connect",
      "Connect to a CurveCP server. With PROG, run it with fd 6 reading from the server and fd 7 writing "
      "to it; without, copy stdin to the server and the server's stream to stdout.");
  cmd->add_option("--name", args->name,
                  "Server name, as given to the server (DNS-style, up to 255 bytes); required unless ALIAS gives it");
  cmd->add_option("--server-key", args->server_key_hex,
                  "Server long-term public key, 64 hex digits; required unless ALIAS gives it");
  cmd->add_option("--ext", args->ext_hex, "Server extension, 32 hex digits (default: ALIAS's, else all zero)");
  cmd->add_option("--key", args->key_dir,
                  "Client key directory (curvecp keygen); default: an anonymous key made for this run");
  cmd->add_option("--scheduler", args->scheduler, "Congestion controller")->capture_default_str();
  cmd->add_option("--timeout", args->timeout_s,
                  "Give up when the server has not accepted the connection within this many seconds")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", args->idle_timeout_s,
                  "Give up when the server sends nothing for this many seconds while data or a keepalive "
                  "waits for acknowledgement (0: never)")
      ->capture_default_str();
  cmd->add_option("--keepalive", args->keepalive_s,
                  "After this many quiet seconds, send a keepalive the server must acknowledge (0: off)")
      ->capture_default_str();
  cmd->add_flag("-v,--verbose", args->verbose, "Show the handshake steps and the end of the connection");
  cmd->add_flag("-q,--quiet", args->quiet, "Print errors only");
  cmd->add_option("--priority", args->priority,
                  "Class of the transfer: background, normal or a weight N (1..100, as N normal flows)")
      ->capture_default_str();
  cmd->add_option("--control", args->control,
                  "Control socket for curvecp status and ctl (default: connect.PID.sock in /run/curvecp for "
                  "root, else in $XDG_RUNTIME_DIR/curvecp; none: no socket)");
  cmd->add_option("--listen", args->listen,
                  "Port forwarding: accept TCP clients on IP:PORT, each over its own CurveCP connection "
                  "(no PROG)")
      ->type_name("IP:PORT");
  cmd->add_option("--max-forwards", args->max_forwards,
                  "With --listen: simultaneous forwarded connections; more are reset at once")
      ->capture_default_str();
  // (HOST PORT | ALIAS) [--] [PROG [ARG...]] are taken verbatim after the options, as
  // serve takes IP PORT [--] PROG, so PROG's own options need no quoting.
  cmd->prefix_command();
  cmd->footer(
      "Positional arguments (after all options): HOST PORT [--] [PROG [ARG...]] or ALIAS [--] [PROG [ARG...]]\n"
      "HOST is a name or an IPv4/IPv6 address; ALIAS is a line of $XDG_CONFIG_HOME/curvecp/servers\n"
      "(~/.config/curvecp/servers) or /etc/curvecp/servers (curvecp-servers(5)).");
  cmd->callback([cmd, args, &exit_code] {
    args->rest = cmd->remaining();
    exit_code = run_connect(*args);
  });
}};

}  // namespace
}  // namespace curvecp
