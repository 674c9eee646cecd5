// `curvecp keygen DIR` and `curvecp pubkey DIR`: the key tools, byte-compatible with the
// reference curvecpmakekey and curvecpprintkey (CURVECP.md 1.1, 1.2).
// `curvecp pubkey --servers-line ALIAS HOST PORT NAME [--ext HEX] DIR` prints the key as
// a line of a servers file instead (client/server_target.h, man/curvecp-servers.5).
//
// Exit codes: 0 success; 100 usage (missing or extra argument, from the CLI parser);
// 111 for every failure of the operation itself, including an existing DIR for keygen,
// as the reference does (spec 1.1: "must not exist beforehand (otherwise exit 111)").
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client/command_output.h"
#include "client/server_target.h"
#include "core/bytes.h"
#include "crypto/init.h"
#include "crypto/keydir.h"
#include "crypto/sodium_rng.h"
#include "daemon/command_registry.h"

namespace curvecp {
namespace {

int run_keygen(const std::string& dir) {
  if (!crypto_initialize()) {
    print_command_error("keygen", "libsodium failed to initialise");
    return kExitTemporary;
  }
  SodiumRng rng;
  if (Status s = make_key_directory(dir, rng); !s) {
    print_command_error("keygen", s.error().message);
    return kExitTemporary;
  }
  return 0;
}

struct PubkeyArgs {
  std::string dir;
  std::vector<std::string> servers_line;  // ALIAS HOST PORT NAME, or empty
  std::string ext_hex;
};

// The servers-file line for `key`, checked by the parser that will read it.
Result<std::string> servers_line(const PubkeyArgs& args, const std::string& key_hex) {
  std::string line;
  for (const std::string& field : args.servers_line) line += field + " ";
  line += key_hex;
  if (!args.ext_hex.empty()) line += " " + args.ext_hex;
  auto parsed = parse_servers_file(line, "--servers-line");
  if (!parsed) {
    const std::string message = parsed.error().message;  // "--servers-line:1: what"
    return make_error("--servers-line: " + message.substr(message.find(": ") + 2));
  }
  if (parsed->size() != 1 || parsed->front().alias != args.servers_line[0]) {
    return make_error("--servers-line: ALIAS, HOST, PORT and NAME must each be one word, not starting with '#'");
  }
  return line + "\n";
}

int run_pubkey(const PubkeyArgs& args) {
  if (!args.ext_hex.empty() && args.servers_line.empty()) {
    print_usage_error("pubkey", "--ext goes with --servers-line");
    return kExitUsage;
  }
  // The line's own fields are checked (with a stand-in key) before the directory is read.
  if (!args.servers_line.empty()) {
    if (auto check = servers_line(args, std::string(64, '0')); !check) {
      print_usage_error("pubkey", check.error().message);
      return kExitUsage;
    }
  }
  Result<PublicKey> pk = load_public_key(args.dir);
  if (!pk) {
    print_command_error("pubkey", pk.error().message);
    return kExitTemporary;
  }
  // 64 lowercase hex digits and a newline, nothing else (spec 1.2), or a servers line.
  std::string line = encode_hex(pk->bytes) + "\n";
  if (!args.servers_line.empty()) line = servers_line(args, encode_hex(pk->bytes)).value();
  if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fflush(stdout) != 0) {
    print_command_error("pubkey", std::string("unable to write output: ") + std::strerror(errno));
    return kExitTemporary;
  }
  return 0;
}

const CommandRegistration keygen_registration{"keygen", 80, [](CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("keygen", "Create a new long-term key directory DIR (like curvecpmakekey)");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("DIR", *dir, "Key directory to create; must not exist")->required();
  cmd->callback([dir, &exit_code] { exit_code = run_keygen(*dir); });
}};

const CommandRegistration pubkey_registration{"pubkey", 81, [](CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("pubkey", "Print the public key of key directory DIR as 64 hex digits (like curvecpprintkey)");
  auto args = std::make_shared<PubkeyArgs>();
  cmd->add_option("--servers-line", args->servers_line,
                  "Print a line for a servers file instead (curvecp-servers(5)): ALIAS HOST PORT NAME KEY")
      ->expected(4)
      ->type_name("ALIAS HOST PORT NAME");
  cmd->add_option("--ext", args->ext_hex, "With --servers-line: the server's extension, 32 hex digits");
  cmd->add_option("DIR", args->dir, "Key directory made by curvecp keygen or curvecpmakekey")->required();
  cmd->callback([args, &exit_code] { exit_code = run_pubkey(*args); });
}};

}  // namespace
}  // namespace curvecp
