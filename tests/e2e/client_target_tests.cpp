// Units for where a client connects: the servers-file parser and alias lookup, the
// servers-file paths (XDG_CONFIG_HOME, HOME), host resolution and resolve_target()
// (client/server_target.h); and the client engine's address list: Hellos to each address
// in turn, an ICMP error moving on at once, a Cookie only from the latest Hello's address
// (client/client_engine.h, CURVECP.md 4.3-4.4).
#include <doctest/doctest.h>

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "client/client_engine.h"
#include "client/server_target.h"
#include "crypto/init.h"
#include "crypto/sodium_rng.h"

using namespace curvecp;

namespace {

const std::string kKey(64, 'a');
const std::string kExt(32, '3');

// A scratch directory removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/curvecp-target-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = path + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(file).parent_path());
    std::ofstream(file) << text;
    return file;
  }
};

// Sets an environment variable for one scope, restoring the old value.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const char* value) : name(std::move(n)) {
    if (const char* v = getenv(name.c_str())) old = v;
    if (value) setenv(name.c_str(), value, 1); else unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    if (old) setenv(name.c_str(), old->c_str(), 1); else unsetenv(name.c_str());
  }
};

std::string error_of(const Result<std::vector<ServersFileEntry>>& r) { return r ? "" : r.error().message; }

}  // namespace

TEST_CASE("servers file: fields, comments, optional extension") {
  const std::string text = "# a comment line\n"
                           "\n"
                           "backup  backup.example.org 4500 backup.example " + kKey + "   # trailing comment\n"
                           "\tlocal\t::1\t1\tdemo.example\t" + kKey + "\t" + kExt + "\n"
                           "hash#in  h 2 n " + kKey + "\n";
  auto r = parse_servers_file(text, "F");
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  const ServersFileEntry& b = (*r)[0];
  CHECK(b.alias == "backup");
  CHECK(b.target.host == "backup.example.org");
  CHECK(b.target.port == "4500");
  CHECK(b.target.name == "backup.example");
  CHECK(b.target.key_hex == kKey);
  CHECK(b.target.ext_hex.empty());
  CHECK(b.target.origin == "F:3");
  CHECK((*r)[1].alias == "local");
  CHECK((*r)[1].target.ext_hex == kExt);
  CHECK((*r)[1].target.origin == "F:4");
  // '#' inside a word is part of it; only after a blank does it start a comment.
  CHECK((*r)[2].alias == "hash#in");
}

TEST_CASE("servers file: a malformed line is named by file and line") {
  CHECK(error_of(parse_servers_file("ok h 1 n " + kKey + "\nbad h 1 n\n", "F")) ==
        "F:2: expected ALIAS HOST PORT NAME KEY [EXT], found 4 fields");
  CHECK(error_of(parse_servers_file("a h 1 n " + kKey + " " + kExt + " extra\n", "F")) ==
        "F:1: expected ALIAS HOST PORT NAME KEY [EXT], found 7 fields");
  CHECK(error_of(parse_servers_file("a h 0 n " + kKey + "\n", "F")) == "F:1: bad port '0' (expected 1..65535)");
  CHECK(error_of(parse_servers_file("a h 65536 n " + kKey + "\n", "F")).rfind("F:1: bad port", 0) == 0);
  CHECK(error_of(parse_servers_file("a h 1 n " + kKey.substr(1) + "\n", "F")) ==
        "F:1: the key must be exactly 64 hexadecimal digits");
  CHECK(error_of(parse_servers_file("a h 1 n " + kKey + " 12\n", "F")) ==
        "F:1: the extension must be exactly 32 hexadecimal digits");
  CHECK(error_of(parse_servers_file("a h 1 " + std::string(64, 'x') + " " + kKey + "\n", "F")).rfind("F:1: bad server name", 0) == 0);
  CHECK(parse_servers_file("", "F")->empty());
  CHECK(parse_servers_file("# only\n   \n", "F")->empty());
}

TEST_CASE("servers files: the first file naming the alias wins; missing files are skipped") {
  TempDir dir;
  const std::string user = dir.write("user", "b h1 1 n1 " + kKey + "\n");
  const std::string system = dir.write("system", "a h2 2 n2 " + kKey + "\nb h3 3 n3 " + kKey + "\n");
  const std::vector<std::string> paths{dir.path + "/missing", user, system};
  auto b = find_server_alias("b", paths);
  REQUIRE(b);
  REQUIRE(b->has_value());
  CHECK((*b)->host == "h1");
  CHECK((*b)->origin == user + ":1");
  auto a = find_server_alias("a", paths);
  REQUIRE(a);
  REQUIRE(a->has_value());
  CHECK((*a)->host == "h2");
  auto none = find_server_alias("c", paths);
  REQUIRE(none);
  CHECK(!none->has_value());
  // A malformed line fails the lookup even when an earlier line has the alias.
  const std::string bad = dir.write("bad", "b h 1 n " + kKey + "\nnonsense\n");
  auto broken = find_server_alias("b", {bad});
  REQUIRE(!broken);
  CHECK(broken.error().message == bad + ":2: expected ALIAS HOST PORT NAME KEY [EXT], found 1 field");
  // A directory where the file should be cannot be read.
  auto unreadable = find_server_alias("b", {dir.path});
  REQUIRE(!unreadable);
  CHECK(unreadable.error().message.rfind("cannot read " + dir.path, 0) == 0);
}

TEST_CASE("servers file paths: XDG_CONFIG_HOME, else HOME/.config, then /etc") {
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", "/x/config");
    ScopedEnv home("HOME", "/home/u");
    CHECK(servers_file_paths() == std::vector<std::string>{"/x/config/curvecp/servers", "/etc/curvecp/servers"});
  }
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", "relative/ignored");
    ScopedEnv home("HOME", "/home/u");
    CHECK(servers_file_paths() == std::vector<std::string>{"/home/u/.config/curvecp/servers", "/etc/curvecp/servers"});
  }
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", nullptr);
    ScopedEnv home("HOME", nullptr);
    CHECK(servers_file_paths() == std::vector<std::string>{"/etc/curvecp/servers"});
  }
}

TEST_CASE("resolve_host: literals, lists, names") {
  auto one = resolve_host("::1", 7);
  REQUIRE(one);
  REQUIRE(one->size() == 1);
  CHECK((*one)[0] == *Address::parse("::1", 7));
  auto list = resolve_host("127.0.0.2,::1,127.0.0.2", 9);
  REQUIRE(list);
  CHECK(*list == std::vector<Address>{*Address::parse("127.0.0.2", 9), *Address::parse("::1", 9)});
  auto local = resolve_host("localhost", 5);
  REQUIRE(local);
  CHECK(std::find(local->begin(), local->end(), *Address::parse("127.0.0.1", 5)) != local->end());
  // RFC 6761: .invalid never resolves.
  auto nowhere = resolve_host("no-such-host.invalid", 5);
  REQUIRE(!nowhere);
  CHECK(nowhere.error().message.rfind("cannot resolve no-such-host.invalid: ", 0) == 0);
  CHECK(!resolve_host("127.0.0.1,", 5));
}

TEST_CASE("resolve_target: alias, overrides, host and port, errors") {
  TempDir dir;
  const std::string other_key(64, 'b');
  const std::string file = dir.write("servers", "backup 127.0.0.1 4500 backup.example " + kKey + " " + kExt + "\n" +
                                                    "127.0.0.1 ::1 1 n " + kKey + "\n");
  const std::vector<std::string> paths{file};

  auto from_alias = resolve_target({"backup", "sh", "-c", "x"}, ServerTarget{}, paths);
  REQUIRE(std::holds_alternative<TargetResult>(from_alias));
  const TargetResult& r = std::get<TargetResult>(from_alias);
  CHECK(r.words_used == 1);
  CHECK(r.target.alias == "backup");
  CHECK(r.target.addresses == std::vector<Address>{*Address::parse("127.0.0.1", 4500)});
  PublicKey key;
  REQUIRE(parse_public_key(kKey, key));
  CHECK(r.target.key.bytes == key.bytes);

  ServerTarget given;
  given.key_hex = other_key;
  auto overridden = resolve_target({"backup"}, given, paths);
  REQUIRE(std::holds_alternative<TargetResult>(overridden));
  REQUIRE(parse_public_key(other_key, key));
  CHECK(std::get<TargetResult>(overridden).target.key.bytes == key.bytes);

  // An IP literal is never an alias, even when a file has a line for it.
  given = ServerTarget{};
  given.name = "n";
  given.key_hex = kKey;
  auto literal = resolve_target({"127.0.0.1", "99", "--", "prog"}, given, paths);
  REQUIRE(std::holds_alternative<TargetResult>(literal));
  CHECK(std::get<TargetResult>(literal).words_used == 2);
  CHECK(std::get<TargetResult>(literal).target.addresses == std::vector<Address>{*Address::parse("127.0.0.1", 99)});

  auto kind_of = [&](const std::vector<std::string>& words, const ServerTarget& g) {
    auto t = resolve_target(words, g, paths);
    REQUIRE(std::holds_alternative<TargetError>(t));
    return std::get<TargetError>(t);
  };
  TargetError unknown = kind_of({"nosuch"}, given);
  CHECK(unknown.kind == TargetError::Kind::usage);
  CHECK(unknown.message.find("unknown alias 'nosuch'") != std::string::npos);
  CHECK(kind_of({"nosuch", "prog"}, given).kind == TargetError::Kind::usage);
  CHECK(kind_of({"127.0.0.1"}, given).message == "no PORT after 127.0.0.1");
  CHECK(kind_of({}, given).kind == TargetError::Kind::usage);
  CHECK(kind_of({"localhost", "1"}, ServerTarget{}).message.find("--name is required") == 0);
  TargetError unresolved = kind_of({"no-such-host.invalid", "1"}, given);
  CHECK(unresolved.kind == TargetError::Kind::failure);
}

namespace {

// A client engine toward `addresses` (the first is config.server).
std::unique_ptr<ClientEngine> engine_toward(const std::vector<Address>& addresses, Rng& rng, Timestamp now) {
  ClientEngineConfig cfg;
  cfg.crypto.server_long_term = KeyPair::generate(rng).pk;
  KeyPair me = KeyPair::generate(rng);
  cfg.crypto.client_long_term_pk = me.pk;
  cfg.crypto.client_long_term_sk = std::move(me.sk);
  cfg.server = addresses[0];
  cfg.more_servers.assign(addresses.begin() + 1, addresses.end());
  cfg.handshake_timeout = Duration::seconds(120);
  auto e = ClientEngine::create(std::move(cfg), rng, now);
  REQUIRE(e);
  return std::move(e.value());
}

}  // namespace

TEST_CASE("client engine: Hellos go to each address in turn") {
  REQUIRE(crypto_initialize());
  SodiumRng rng;
  const Address a = *Address::parse("127.0.0.2", 1), b = *Address::parse("::1", 2);
  Timestamp now{};
  auto engine = engine_toward({a, b}, rng, now);
  std::vector<uint8_t> out(1184);
  std::vector<Address> sent_to;
  for (int i = 0; i < 6; ++i) {
    const Address next = engine->next_destination();
    REQUIRE(engine->poll_transmit(now, out) == 224);
    CHECK(engine->server() == next);
    sent_to.push_back(engine->server());
    CHECK(engine->poll_transmit(now, out) == 0);  // the next one waits its turn
    now = engine->next_timeout();
  }
  CHECK(sent_to == std::vector<Address>{a, b, a, b, a, b});
  // A datagram from an address other than the latest Hello's is dropped (4.4).
  const uint64_t before = engine->drops().get(DropReason::wrong_source);
  engine->handle_datagram(now, a, Bytes(out.data(), 200));
  CHECK(engine->drops().get(DropReason::wrong_source) == before + 1);
}

TEST_CASE("client engine: an ICMP error moves on at once; all refused fails") {
  REQUIRE(crypto_initialize());
  SodiumRng rng;
  const Address a = *Address::parse("127.0.0.2", 1), b = *Address::parse("127.0.0.3", 1);
  const Timestamp start{};
  auto engine = engine_toward({a, b}, rng, start);
  std::vector<uint8_t> out(1184);
  REQUIRE(engine->poll_transmit(start, out) == 224);
  CHECK(engine->server() == a);
  const Timestamp soon = start + Duration::milliseconds(1);
  engine->handle_unreachable(soon, a, ECONNREFUSED);
  CHECK(engine->phase() == ClientEngine::Phase::hello);
  CHECK(engine->next_timeout() == soon);
  REQUIRE(engine->poll_transmit(soon, out) == 224);
  CHECK(engine->server() == b);
  // a is ruled out: the Hellos after b's go to b again.
  REQUIRE(engine->poll_transmit(engine->next_timeout(), out) == 224);
  CHECK(engine->server() == b);
  engine->handle_unreachable(soon, b, ECONNREFUSED);
  CHECK(engine->phase() == ClientEngine::Phase::failed);
  CHECK(engine->reason() == EndReason::refused);
  CHECK(engine->failure() == "connection refused: nothing is listening on 127.0.0.2:1 or 127.0.0.3:1");
}
