// `curvecp keygen DIR` and `curvecp pubkey DIR`: the key tools, byte-compatible with the
// reference curvecpmakekey and curvecpprintkey (CURVECP.md 1.1, 1.2).
//
// Exit codes: 0 success; 100 usage (missing or extra argument, from the CLI parser);
// 111 for every failure of the operation itself, including an existing DIR for keygen,
// as the reference does (spec 1.1: "must not exist beforehand (otherwise exit 111)").
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/bytes.h"
#include "crypto/init.h"
#include "crypto/keydir.h"
#include "crypto/sodium_rng.h"
#include "daemon/command_registry.h"

namespace curvecp {
namespace {

int run_keygen(const std::string& dir) {
  if (!crypto_initialize()) {
    print_error("fatal: libsodium failed to initialise");
    return kExitTemporary;
  }
  SodiumRng rng;
  if (Status s = make_key_directory(dir, rng); !s) {
    print_error("keygen: " + s.error().message);
    return kExitTemporary;
  }
  return 0;
}

int run_pubkey(const std::string& dir) {
  Result<PublicKey> pk = load_public_key(dir);
  if (!pk) {
    print_error("pubkey: " + pk.error().message);
    return kExitTemporary;
  }
  // 64 lowercase hex digits and a newline, nothing else (spec 1.2).
  const std::string line = encode_hex(pk->bytes) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fflush(stdout) != 0) {
    print_error(std::string("pubkey: unable to write output: ") + std::strerror(errno));
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
  auto dir = std::make_shared<std::string>();
  cmd->add_option("DIR", *dir, "Key directory made by curvecp keygen or curvecpmakekey")->required();
  cmd->callback([dir, &exit_code] { exit_code = run_pubkey(*dir); });
}};

}  // namespace
}  // namespace curvecp
